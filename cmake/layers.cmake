# The layers of src/ as CMake targets (see the top-level CMakeLists.txt for the arrows).
#
# A layer's headers are reachable only through its own include root, a folder in the build tree
# holding one symbolic link <root>/<dir> -> src/<dir>. A layer gets the roots of the layers it
# links (its own, and through PUBLIC links theirs), so `#include "room/peer.hpp"` compiles in
# the room layer and the layers above it, and fails in rtc.
#
# Object libraries do not pass their object files on to whoever links them through another
# object library, so programs link a layer with trystero_link_layers(), which links the whole
# closure of layers below it directly.

set(TRYSTERO_LAYERS "")
set(TRYSTERO_LAYER_DIRS "")

function(_trystero_layer_root name dir out)
  set(root ${PROJECT_BINARY_DIR}/layers/${name})
  get_filename_component(parent ${root}/${dir} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${dir} ${root}/${dir} SYMBOLIC)
  set(${out} ${root} PARENT_SCOPE)
endfunction()

# Layer names among a dependency list become their targets; the closure of object layers below
# is recorded for trystero_link_layers().
function(_trystero_resolve_deps out closure_out)
  set(resolved "")
  set(closure "")
  foreach(dep ${ARGN})
    if(TARGET trystero_${dep} AND NOT dep MATCHES "::")
      list(APPEND resolved trystero_${dep})
      get_property(below GLOBAL PROPERTY TRYSTERO_LAYER_CLOSURE_${dep})
      list(APPEND closure ${below})
    else()
      list(APPEND resolved ${dep})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set(${out} ${resolved} PARENT_SCOPE)
  set(${closure_out} ${closure} PARENT_SCOPE)
endfunction()

# trystero_layer(<name> DIR <folder under src/> [PUBLIC deps...] [PRIVATE deps...])
# deps are layer names (loop, rtc, ...) or imported targets. PUBLIC: the layer's headers include
# that dependency's headers; PRIVATE: only its sources do.
function(trystero_layer name)
  cmake_parse_arguments(L "" "DIR" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${L_DIR}/*.cpp)
  if(NOT sources)
    message(FATAL_ERROR "layer ${name}: no sources in src/${L_DIR}")
  endif()
  set(target trystero_${name})
  add_library(${target} OBJECT ${sources})
  _trystero_layer_root(${name} ${L_DIR} root)
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${root}> $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
  _trystero_resolve_deps(public public_closure ${L_PUBLIC})
  _trystero_resolve_deps(private private_closure ${L_PRIVATE})
  target_link_libraries(${target} PUBLIC ${public} PRIVATE ${private})
  target_compile_options(${target} PRIVATE ${TRYSTERO_WARNINGS})
  # The library's log messages carry the domain "trystero": G_MESSAGES_DEBUG=trystero shows its
  # debug lines, and a program can filter them with a GLib log handler.
  target_compile_definitions(${target} PRIVATE G_LOG_DOMAIN="trystero")
  set(closure ${name} ${public_closure} ${private_closure})
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY TRYSTERO_LAYER_CLOSURE_${name} ${closure})
  set(TRYSTERO_LAYERS ${TRYSTERO_LAYERS} ${name} PARENT_SCOPE)
  set(TRYSTERO_LAYER_DIRS ${TRYSTERO_LAYER_DIRS} ${L_DIR} PARENT_SCOPE)
endfunction()

# A layer of headers only (no object files).
function(trystero_header_layer name)
  cmake_parse_arguments(L "" "DIR" "LINK" ${ARGN})
  set(target trystero_${name})
  add_library(${target} INTERFACE)
  _trystero_layer_root(${name} ${L_DIR} root)
  target_include_directories(${target} INTERFACE $<BUILD_INTERFACE:${root}>)
  target_link_libraries(${target} INTERFACE ${L_LINK})
  set_property(GLOBAL PROPERTY TRYSTERO_LAYER_CLOSURE_${name} ${name})
  set(TRYSTERO_LAYER_DIRS ${TRYSTERO_LAYER_DIRS} ${L_DIR} PARENT_SCOPE)
endfunction()

# Every folder of src/ with sources must be a layer: a new folder that is not would silently
# not be built.
function(trystero_check_every_source_in_a_layer)
  file(GLOB_RECURSE all CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*.cpp ${PROJECT_SOURCE_DIR}/src/*.hpp)
  foreach(file ${all})
    file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR}/src ${file})
    set(found FALSE)
    foreach(dir ${TRYSTERO_LAYER_DIRS})
      if(relative MATCHES "^${dir}/")
        set(found TRUE)
      endif()
    endforeach()
    if(NOT found)
      message(FATAL_ERROR "src/${relative} is in no layer (cmake/layers.cmake)")
    endif()
  endforeach()
endfunction()

# trystero_link_layers(<target> <PRIVATE|PUBLIC|INTERFACE> <layer>...): links the layers and
# every layer below them, so that their object files are part of the program.
function(trystero_link_layers target scope)
  set(closure "")
  foreach(layer ${ARGN})
    get_property(below GLOBAL PROPERTY TRYSTERO_LAYER_CLOSURE_${layer})
    list(APPEND closure ${below})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  list(TRANSFORM closure PREPEND trystero_)
  target_link_libraries(${target} ${scope} ${closure})
endfunction()
