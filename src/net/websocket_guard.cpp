#include "net/websocket_guard.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace trystero::net {

WebSocketGuard::WebSocketGuard(Limits limits, std::function<void(Trip)> onTrip)
    : maxMessageBytes_(limits.maxMessageBytes),
      maxBacklogBytes_(limits.maxBacklogBytes),
      onTrip_(std::move(onTrip)) {}

WebSocketGuard::~WebSocketGuard() {
  if (stoppedSource_) g_source_unref(stoppedSource_);
}

std::size_t WebSocketGuard::scanIncoming(const std::uint8_t* data, std::size_t size) {
  if (inputStopped_) return 0;
  std::size_t i = 0;
  std::size_t frameStart = 0;  // of the frame whose header is being read (0: an earlier read)
  while (i < size) {
    if (payloadLeft_ > 0) {
      auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(payloadLeft_, size - i));
      i += skip;
      payloadLeft_ -= skip;
      continue;
    }
    if (headerHave_ == 0) frameStart = i;
    header_[headerHave_++] = data[i++];
    if (headerHave_ < 2) continue;
    const std::uint8_t len7 = header_[1] & 0x7F;
    // The mask bit says whether a 4-byte key follows. A frame masked the wrong way for its
    // direction is a protocol error libsoup reports; its length still counts.
    const std::size_t need = 2 +
                             (len7 == 126   ? 2
                              : len7 == 127 ? 8
                                            : 0) +
                             ((header_[1] & 0x80) ? 4 : 0);
    if (headerHave_ < need) continue;
    headerHave_ = 0;

    std::uint64_t length = len7;
    if (len7 == 126) {
      length = std::uint64_t(header_[2]) << 8 | header_[3];
    } else if (len7 == 127) {
      length = 0;
      for (int k = 2; k < 10; ++k) length = length << 8 | header_[k];
    }
    const bool fin = header_[0] & 0x80;
    const std::uint8_t opcode = header_[0] & 0x0F;
    if (opcode & 0x08) {
      // Control frames (ping, pong, close) may come between fragments; libsoup caps them itself
      // (failing the connection on one over 125 bytes), and answers each ping with a pong of the
      // same payload.
      if (opcode == 0x09 && length <= 125 && countsBacklog()) {
        backlog_ += 2 + static_cast<std::size_t>(length);
        if (backlog_ > maxBacklogBytes_ && !backlogTripped_) {
          backlogTripped_ = true;
          if (onTrip_) onTrip_(Trip::Backlog);
        }
      }
    } else if (maxMessageBytes_ > 0) {
      if (opcode != 0) messageBytes_ = 0;  // a new message (libsoup rejects one mid-message)
      if (length > maxMessageBytes_ - messageBytes_) {
        inputStopped_ = true;
        // Nothing trips once the input stopped: the callback (and what it holds) goes now.
        if (auto onTrip = std::move(onTrip_)) onTrip(Trip::MessageTooBig);
        return frameStart;
      }
      messageBytes_ = fin ? 0 : messageBytes_ + length;
    }
    payloadLeft_ = length;
  }
  return size;
}

void WebSocketGuard::setStoppedSource(GSource* source) {
  if (stoppedSource_) g_source_unref(stoppedSource_);
  stoppedSource_ = g_source_ref(source);
}

void WebSocketGuard::endInput() {
  inputEnded_ = true;
  if (stoppedSource_) {
    if (!g_source_is_destroyed(stoppedSource_)) g_source_set_ready_time(stoppedSource_, 0);
    g_source_unref(stoppedSource_);
    stoppedSource_ = nullptr;
  }
}

std::size_t serverFrameBytes(std::size_t payload) {
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

}  // namespace trystero::net

// ---- GObject types (global namespace: GType names are process-wide) ----------------------------

using trystero::net::WebSocketGuard;
using GuardPtr = std::shared_ptr<WebSocketGuard>;

extern "C" {

struct TrysteroWebSocketGuardInput {
  GInputStream parent_instance;
  GInputStream* base;
  GuardPtr* guard;
  std::string* pending;  // read past the handshake, handed out first (nullptr: none)
  std::size_t pendingPos;
};
struct TrysteroWebSocketGuardInputClass {
  GInputStreamClass parent_class;
};

// Only when the guard counts the backlog.
struct TrysteroWebSocketGuardOutput {
  GOutputStream parent_instance;
  GOutputStream* base;
  GuardPtr* guard;
};
struct TrysteroWebSocketGuardOutputClass {
  GOutputStreamClass parent_class;
};

struct TrysteroWebSocketGuardStream {
  GIOStream parent_instance;
  GIOStream* base;
  GInputStream* input;
  GOutputStream* output;  // nullptr: base's
};
struct TrysteroWebSocketGuardStreamClass {
  GIOStreamClass parent_class;
};

}  // extern "C"

static void trystero_websocket_guard_input_pollable_init(GPollableInputStreamInterface* iface);
static void trystero_websocket_guard_output_pollable_init(GPollableOutputStreamInterface* iface);

// G_DEFINE_TYPE registers each type lazily with g_once: a ThreadSanitizer false positive that
// tests/tsan.supp names (registering from a function-local static instead hits the same one, in
// g_type_add_interface_static).
G_DEFINE_TYPE_WITH_CODE(TrysteroWebSocketGuardInput, trystero_websocket_guard_input,
                        G_TYPE_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              trystero_websocket_guard_input_pollable_init))
G_DEFINE_TYPE_WITH_CODE(TrysteroWebSocketGuardOutput, trystero_websocket_guard_output,
                        G_TYPE_OUTPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_OUTPUT_STREAM,
                                              trystero_websocket_guard_output_pollable_init))
G_DEFINE_TYPE(TrysteroWebSocketGuardStream, trystero_websocket_guard_stream, G_TYPE_IO_STREAM)

namespace {

using GuardInput = TrysteroWebSocketGuardInput;
using GuardOutput = TrysteroWebSocketGuardOutput;
using GuardStream = TrysteroWebSocketGuardStream;

GuardInput* asInput(gpointer p) { return reinterpret_cast<GuardInput*>(p); }
GuardOutput* asOutput(gpointer p) { return reinterpret_cast<GuardOutput*>(p); }
GuardStream* asStream(gpointer p) { return reinterpret_cast<GuardStream*>(p); }

// ---- input --------------------------------------------------------------------------------------

bool hasPending(GuardInput* self) {
  return self->pending && self->pendingPos < self->pending->size();
}

gssize wouldBlock(GError** error) {
  g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "input stopped");
  return -1;
}

// What a read of n bytes into buffer hands on.
gssize passOn(WebSocketGuard& guard, void* buffer, gssize n, GError** error) {
  if (n <= 0) return n;
  auto pass =
      guard.scanIncoming(static_cast<const std::uint8_t*>(buffer), static_cast<std::size_t>(n));
  if (pass == 0) return wouldBlock(error);
  return static_cast<gssize>(pass);
}

// Bytes from the pending buffer; it advances only by what the guard let through.
gssize readPending(GuardInput* self, void* buffer, gsize count, GError** error) {
  const std::size_t n = std::min<std::size_t>(count, self->pending->size() - self->pendingPos);
  std::memcpy(buffer, self->pending->data() + self->pendingPos, n);
  gssize passed = passOn(**self->guard, buffer, static_cast<gssize>(n), error);
  if (passed > 0) self->pendingPos += static_cast<std::size_t>(passed);
  return passed;
}

// A read (blocking or not, as readBase does it) through the guard.
template <typename ReadBase>
gssize readGuarded(GuardInput* self, void* buffer, gsize count, GError** error,
                   ReadBase&& readBase) {
  auto& guard = **self->guard;
  if (guard.inputEnded()) return 0;
  if (guard.inputStopped()) return wouldBlock(error);
  if (hasPending(self)) return readPending(self, buffer, count, error);
  return passOn(guard, buffer, readBase(), error);
}

gssize inputRead(GInputStream* stream, void* buffer, gsize count, GCancellable* cancellable,
                 GError** error) {
  auto* self = asInput(stream);
  return readGuarded(self, buffer, count, error, [&] {
    return g_input_stream_read(self->base, buffer, count, cancellable, error);
  });
}

gboolean inputClose(GInputStream*, GCancellable*, GError**) {
  return TRUE;  // the guarded GIOStream closes the base stream
}

void inputFinalize(GObject* object) {
  auto* self = asInput(object);
  g_clear_object(&self->base);
  delete self->guard;
  self->guard = nullptr;
  delete self->pending;
  self->pending = nullptr;
  G_OBJECT_CLASS(trystero_websocket_guard_input_parent_class)->finalize(object);
}

gboolean inputCanPoll(GPollableInputStream* stream) {
  return g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(asInput(stream)->base));
}

gboolean inputIsReadable(GPollableInputStream* stream) {
  auto* self = asInput(stream);
  auto& guard = **self->guard;
  if (guard.inputEnded()) return TRUE;
  if (guard.inputStopped()) return FALSE;
  if (hasPending(self)) return TRUE;
  return g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(self->base));
}

GSource* inputCreateSource(GPollableInputStream* stream, GCancellable* cancellable) {
  auto* self = asInput(stream);
  auto& guard = **self->guard;
  if (guard.inputEnded() || (!guard.inputStopped() && hasPending(self))) {
    GSource* source = g_pollable_source_new_full(stream, nullptr, cancellable);
    g_source_set_ready_time(source, 0);
    return source;
  }
  if (guard.inputStopped()) {
    // Never ready by itself: endInput() wakes it.
    GSource* source = g_pollable_source_new_full(stream, nullptr, cancellable);
    guard.setStoppedSource(source);
    return source;
  }
  GSource* base =
      g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(self->base), nullptr);
  GSource* source = g_pollable_source_new_full(stream, base, cancellable);
  g_source_unref(base);
  return source;
}

gssize inputReadNonblocking(GPollableInputStream* stream, void* buffer, gsize count,
                            GError** error) {
  auto* self = asInput(stream);
  return readGuarded(self, buffer, count, error, [&] {
    return g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base), buffer,
                                                    count, nullptr, error);
  });
}

// ---- output -------------------------------------------------------------------------------------

gssize outputWrite(GOutputStream* stream, const void* buffer, gsize count,
                   GCancellable* cancellable, GError** error) {
  auto* self = asOutput(stream);
  gssize n = g_output_stream_write(self->base, buffer, count, cancellable, error);
  if (n > 0) (*self->guard)->written(static_cast<std::size_t>(n));
  return n;
}

gboolean outputFlush(GOutputStream* stream, GCancellable* cancellable, GError** error) {
  return g_output_stream_flush(asOutput(stream)->base, cancellable, error);
}

gboolean outputClose(GOutputStream*, GCancellable*, GError**) {
  return TRUE;  // the guarded GIOStream closes the base stream
}

void outputFinalize(GObject* object) {
  auto* self = asOutput(object);
  g_clear_object(&self->base);
  delete self->guard;
  self->guard = nullptr;
  G_OBJECT_CLASS(trystero_websocket_guard_output_parent_class)->finalize(object);
}

gboolean outputCanPoll(GPollableOutputStream* stream) {
  return g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(asOutput(stream)->base));
}

gboolean outputIsWritable(GPollableOutputStream* stream) {
  return g_pollable_output_stream_is_writable(G_POLLABLE_OUTPUT_STREAM(asOutput(stream)->base));
}

GSource* outputCreateSource(GPollableOutputStream* stream, GCancellable* cancellable) {
  GSource* base = g_pollable_output_stream_create_source(
      G_POLLABLE_OUTPUT_STREAM(asOutput(stream)->base), nullptr);
  GSource* source = g_pollable_source_new_full(stream, base, cancellable);
  g_source_unref(base);
  return source;
}

gssize outputWriteNonblocking(GPollableOutputStream* stream, const void* buffer, gsize count,
                              GError** error) {
  auto* self = asOutput(stream);
  gssize n = g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(self->base),
                                                        buffer, count, nullptr, error);
  if (n > 0) (*self->guard)->written(static_cast<std::size_t>(n));
  return n;
}

// ---- the GIOStream ------------------------------------------------------------------------------

GInputStream* streamInput(GIOStream* stream) { return asStream(stream)->input; }
GOutputStream* streamOutput(GIOStream* stream) {
  auto* self = asStream(stream);
  return self->output ? self->output : g_io_stream_get_output_stream(self->base);
}

gboolean streamClose(GIOStream* stream, GCancellable* cancellable, GError** error) {
  return g_io_stream_close(asStream(stream)->base, cancellable, error);
}

// Closing a TLS connection may have to write: done asynchronously on the base stream (a socket
// connection closes at once). GIOStream's default would close input and output separately,
// neither of which closes the base stream.
void baseClosed(GObject* source, GAsyncResult* result, gpointer data) {
  GTask* task = G_TASK(data);
  GError* error = nullptr;
  if (g_io_stream_close_finish(G_IO_STREAM(source), result, &error)) {
    g_task_return_boolean(task, TRUE);
  } else {
    g_task_return_error(task, error);
  }
  g_object_unref(task);
}

void streamCloseAsync(GIOStream* stream, int priority, GCancellable* cancellable,
                      GAsyncReadyCallback callback, gpointer data) {
  GTask* task = g_task_new(stream, cancellable, callback, data);
  g_io_stream_close_async(asStream(stream)->base, priority, cancellable, &baseClosed, task);
}

gboolean streamCloseFinish(GIOStream*, GAsyncResult* result, GError** error) {
  return g_task_propagate_boolean(G_TASK(result), error);
}

void streamFinalize(GObject* object) {
  auto* self = asStream(object);
  g_clear_object(&self->input);
  g_clear_object(&self->output);
  g_clear_object(&self->base);
  G_OBJECT_CLASS(trystero_websocket_guard_stream_parent_class)->finalize(object);
}

}  // namespace

static void trystero_websocket_guard_input_init(TrysteroWebSocketGuardInput*) {}
static void trystero_websocket_guard_input_class_init(TrysteroWebSocketGuardInputClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = inputFinalize;
  G_INPUT_STREAM_CLASS(klass)->read_fn = inputRead;
  G_INPUT_STREAM_CLASS(klass)->close_fn = inputClose;
}
static void trystero_websocket_guard_input_pollable_init(GPollableInputStreamInterface* iface) {
  iface->can_poll = inputCanPoll;
  iface->is_readable = inputIsReadable;
  iface->create_source = inputCreateSource;
  iface->read_nonblocking = inputReadNonblocking;
}

static void trystero_websocket_guard_output_init(TrysteroWebSocketGuardOutput*) {}
static void trystero_websocket_guard_output_class_init(TrysteroWebSocketGuardOutputClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = outputFinalize;
  G_OUTPUT_STREAM_CLASS(klass)->write_fn = outputWrite;
  G_OUTPUT_STREAM_CLASS(klass)->flush = outputFlush;
  G_OUTPUT_STREAM_CLASS(klass)->close_fn = outputClose;
}
static void trystero_websocket_guard_output_pollable_init(GPollableOutputStreamInterface* iface) {
  iface->can_poll = outputCanPoll;
  iface->is_writable = outputIsWritable;
  iface->create_source = outputCreateSource;
  iface->write_nonblocking = outputWriteNonblocking;
}

static void trystero_websocket_guard_stream_init(TrysteroWebSocketGuardStream*) {}
static void trystero_websocket_guard_stream_class_init(TrysteroWebSocketGuardStreamClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = streamFinalize;
  G_IO_STREAM_CLASS(klass)->get_input_stream = streamInput;
  G_IO_STREAM_CLASS(klass)->get_output_stream = streamOutput;
  G_IO_STREAM_CLASS(klass)->close_fn = streamClose;
  G_IO_STREAM_CLASS(klass)->close_async = streamCloseAsync;
  G_IO_STREAM_CLASS(klass)->close_finish = streamCloseFinish;
}

namespace trystero::net {

GIOStream* newGuardedStream(GIOStream* base, std::shared_ptr<WebSocketGuard> guard,
                            std::string pending) {
  GInputStream* baseIn = g_io_stream_get_input_stream(base);
  GOutputStream* baseOut = g_io_stream_get_output_stream(base);
  if (!G_IS_POLLABLE_INPUT_STREAM(baseIn) || !G_IS_POLLABLE_OUTPUT_STREAM(baseOut)) return nullptr;
  auto* stream = asStream(g_object_new(trystero_websocket_guard_stream_get_type(), nullptr));
  stream->base = G_IO_STREAM(g_object_ref(base));
  if (guard->countsBacklog()) {
    auto* out = asOutput(g_object_new(trystero_websocket_guard_output_get_type(), nullptr));
    out->base = G_OUTPUT_STREAM(g_object_ref(baseOut));
    out->guard = new GuardPtr(guard);
    stream->output = G_OUTPUT_STREAM(out);
  }
  auto* in = asInput(g_object_new(trystero_websocket_guard_input_get_type(), nullptr));
  in->base = G_INPUT_STREAM(g_object_ref(baseIn));
  in->guard = new GuardPtr(std::move(guard));
  if (!pending.empty()) in->pending = new std::string(std::move(pending));
  stream->input = G_INPUT_STREAM(in);
  return G_IO_STREAM(stream);
}

}  // namespace trystero::net
