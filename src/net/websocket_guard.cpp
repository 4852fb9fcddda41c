#include "net/websocket_guard.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace trystero::net {

MessageGuard::MessageGuard(std::size_t maxMessageBytes, std::function<void()> onTooBig)
    : maxMessageBytes_(maxMessageBytes), onTooBig_(std::move(onTooBig)) {}

MessageGuard::~MessageGuard() {
  if (stoppedSource_) g_source_unref(stoppedSource_);
}

std::size_t MessageGuard::scan(const std::uint8_t* data, std::size_t size) {
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
    // A masked frame from a server is a protocol error libsoup reports; its length still counts.
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
    // Control frames (ping, pong, close) may come between fragments; libsoup caps them itself.
    if (!(opcode & 0x08) && maxMessageBytes_ > 0) {
      if (opcode != 0) messageBytes_ = 0;  // a new message (libsoup rejects one mid-message)
      if (length > maxMessageBytes_ - messageBytes_) {
        inputStopped_ = true;
        if (auto f = std::move(onTooBig_)) f();
        return frameStart;
      }
      messageBytes_ = fin ? 0 : messageBytes_ + length;
    }
    payloadLeft_ = length;
  }
  return size;
}

void MessageGuard::setStoppedSource(GSource* source) {
  if (stoppedSource_) g_source_unref(stoppedSource_);
  stoppedSource_ = g_source_ref(source);
}

void MessageGuard::endInput() {
  inputEnded_ = true;
  if (stoppedSource_) {
    if (!g_source_is_destroyed(stoppedSource_)) g_source_set_ready_time(stoppedSource_, 0);
    g_source_unref(stoppedSource_);
    stoppedSource_ = nullptr;
  }
}

}  // namespace trystero::net

// ---- GObject types (global namespace: GType names are process-wide) ----------------------------

using trystero::net::MessageGuard;
using GuardPtr = std::shared_ptr<MessageGuard>;

extern "C" {

struct TrysteroClientGuardInput {
  GInputStream parent_instance;
  GInputStream* base;
  GuardPtr* guard;
  std::string* pending;  // read past the handshake, handed out first
  std::size_t pendingPos;
};
struct TrysteroClientGuardInputClass {
  GInputStreamClass parent_class;
};

struct TrysteroClientGuardStream {
  GIOStream parent_instance;
  GIOStream* base;
  GInputStream* input;
};
struct TrysteroClientGuardStreamClass {
  GIOStreamClass parent_class;
};

}  // extern "C"

static void trystero_client_guard_input_pollable_init(GPollableInputStreamInterface* iface);

G_DEFINE_TYPE_WITH_CODE(TrysteroClientGuardInput, trystero_client_guard_input, G_TYPE_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              trystero_client_guard_input_pollable_init))
G_DEFINE_TYPE(TrysteroClientGuardStream, trystero_client_guard_stream, G_TYPE_IO_STREAM)

namespace {

TrysteroClientGuardInput* asInput(gpointer p) {
  return reinterpret_cast<TrysteroClientGuardInput*>(p);
}
TrysteroClientGuardStream* asStream(gpointer p) {
  return reinterpret_cast<TrysteroClientGuardStream*>(p);
}

bool hasPending(TrysteroClientGuardInput* self) {
  return self->pending && self->pendingPos < self->pending->size();
}

gssize wouldBlock(GError** error) {
  g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "input stopped");
  return -1;
}

// What a read of n bytes into buffer hands on.
gssize passOn(MessageGuard& guard, void* buffer, gssize n, GError** error) {
  if (n <= 0) return n;
  auto pass = guard.scan(static_cast<const std::uint8_t*>(buffer), static_cast<std::size_t>(n));
  if (pass == 0) return wouldBlock(error);
  return static_cast<gssize>(pass);
}

// Bytes from the pending buffer; it advances only by what the guard let through.
gssize readPending(TrysteroClientGuardInput* self, void* buffer, gsize count, GError** error) {
  const std::size_t n = std::min<std::size_t>(count, self->pending->size() - self->pendingPos);
  std::memcpy(buffer, self->pending->data() + self->pendingPos, n);
  gssize passed = passOn(**self->guard, buffer, static_cast<gssize>(n), error);
  if (passed > 0) self->pendingPos += static_cast<std::size_t>(passed);
  return passed;
}

gssize inputRead(GInputStream* stream, void* buffer, gsize count, GCancellable* cancellable,
                 GError** error) {
  auto* self = asInput(stream);
  auto& guard = **self->guard;
  if (guard.inputEnded()) return 0;
  if (guard.inputStopped()) return wouldBlock(error);
  if (hasPending(self)) return readPending(self, buffer, count, error);
  gssize n = g_input_stream_read(self->base, buffer, count, cancellable, error);
  return passOn(guard, buffer, n, error);
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
  G_OBJECT_CLASS(trystero_client_guard_input_parent_class)->finalize(object);
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
  auto& guard = **self->guard;
  if (guard.inputEnded()) return 0;
  if (guard.inputStopped()) return wouldBlock(error);
  if (hasPending(self)) return readPending(self, buffer, count, error);
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base), buffer,
                                                      count, nullptr, error);
  return passOn(guard, buffer, n, error);
}

GInputStream* streamInput(GIOStream* stream) { return asStream(stream)->input; }
GOutputStream* streamOutput(GIOStream* stream) {
  return g_io_stream_get_output_stream(asStream(stream)->base);
}

gboolean streamClose(GIOStream* stream, GCancellable* cancellable, GError** error) {
  return g_io_stream_close(asStream(stream)->base, cancellable, error);
}

// Closing a TLS connection may have to write: done asynchronously on the base stream.
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
  g_clear_object(&self->base);
  G_OBJECT_CLASS(trystero_client_guard_stream_parent_class)->finalize(object);
}

}  // namespace

static void trystero_client_guard_input_init(TrysteroClientGuardInput*) {}
static void trystero_client_guard_input_class_init(TrysteroClientGuardInputClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = inputFinalize;
  G_INPUT_STREAM_CLASS(klass)->read_fn = inputRead;
  G_INPUT_STREAM_CLASS(klass)->close_fn = inputClose;
}
static void trystero_client_guard_input_pollable_init(GPollableInputStreamInterface* iface) {
  iface->can_poll = inputCanPoll;
  iface->is_readable = inputIsReadable;
  iface->create_source = inputCreateSource;
  iface->read_nonblocking = inputReadNonblocking;
}

static void trystero_client_guard_stream_init(TrysteroClientGuardStream*) {}
static void trystero_client_guard_stream_class_init(TrysteroClientGuardStreamClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = streamFinalize;
  G_IO_STREAM_CLASS(klass)->get_input_stream = streamInput;
  G_IO_STREAM_CLASS(klass)->get_output_stream = streamOutput;
  G_IO_STREAM_CLASS(klass)->close_fn = streamClose;
  G_IO_STREAM_CLASS(klass)->close_async = streamCloseAsync;
  G_IO_STREAM_CLASS(klass)->close_finish = streamCloseFinish;
}

namespace trystero::net {

GIOStream* newGuardedClientStream(GIOStream* base, std::shared_ptr<MessageGuard> guard,
                                  std::string pending) {
  GInputStream* baseIn = g_io_stream_get_input_stream(base);
  GOutputStream* baseOut = g_io_stream_get_output_stream(base);
  if (!G_IS_POLLABLE_INPUT_STREAM(baseIn) || !G_IS_POLLABLE_OUTPUT_STREAM(baseOut)) return nullptr;
  auto* in = asInput(g_object_new(trystero_client_guard_input_get_type(), nullptr));
  in->base = G_INPUT_STREAM(g_object_ref(baseIn));
  in->guard = new GuardPtr(std::move(guard));
  in->pending = new std::string(std::move(pending));
  in->pendingPos = 0;
  auto* stream = asStream(g_object_new(trystero_client_guard_stream_get_type(), nullptr));
  stream->base = G_IO_STREAM(g_object_ref(base));
  stream->input = G_INPUT_STREAM(in);
  return G_IO_STREAM(stream);
}

}  // namespace trystero::net
