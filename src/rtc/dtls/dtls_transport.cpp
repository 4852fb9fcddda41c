#include "rtc/dtls/dtls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <vector>

#include "rtc/packet_queue.hpp"

namespace trystero::rtc {

namespace {

// Datagram payload size for handshake flights; application records are sized by the caller.
constexpr long kMtu = 1200;
// Datagrams kept before start() or while the peer's fingerprint is still unknown.
constexpr std::size_t kMaxEarlyDatagrams = 16;
// Datagrams received re-entrantly (from inside one of our own callbacks), processed after it.
constexpr std::size_t kMaxNestedDatagrams = 1024;
// Largest plaintext of one DTLS record.
constexpr std::size_t kMaxRecordPlaintext = 16384;
// Handshake retransmission: first timeout, doubled on each expiry up to the cap. OpenSSL's
// default (1 s initial) makes every lost flight cost a second.
constexpr unsigned kInitialTimeoutUs = 400'000;
constexpr unsigned kMaxTimeoutUs = 4'000'000;

constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA";
constexpr const char* kSrtpProfiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

// Drains the thread's OpenSSL error queue into one line.
std::string takeOpenSslErrors() {
  std::string message;
  char buffer[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!message.empty()) message += "; ";
    message += buffer;
  }
  return message.empty() ? std::string("unknown error") : message;
}

std::string normalizeFingerprint(const std::string& fingerprint) {
  std::string out;
  out.reserve(fingerprint.size());
  for (char c : fingerprint) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string lowerCase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Everything lives in the Core, owned through a shared_ptr: every entry point holds a reference
// for its duration, so a callback that destroys the DtlsTransport synchronously only marks the
// Core dead, and the OpenSSL objects are freed once no SSL_* call is left on the stack.
struct DtlsCore : std::enable_shared_from_this<DtlsCore> {
  using Role = DtlsTransport::Role;
  using State = DtlsTransport::State;

  DtlsCore(loop::Loop& loop, std::shared_ptr<Certificate> certificate,
           DtlsTransport::Callbacks callbacks);
  ~DtlsCore();

  // Public operations (DtlsTransport forwards to these while holding a reference).
  void setRemoteFingerprint(const std::string& algorithm, const std::string& fingerprint);
  void start(Role role);
  void receive(std::span<const std::uint8_t> datagram);
  bool send(std::span<const std::uint8_t> data);
  void close();
  std::string exportKeyingMaterial(const std::string& label, std::size_t length) const;
  std::optional<SrtpProfile> srtpProfile() const;

  // OpenSSL hooks.
  void emit(std::span<const std::uint8_t> datagram);
  int readInput(char* out, int capacity);
  bool hasInput() const { return input_ != nullptr; }
  std::size_t inputSize() const { return input_ ? inputLength_ : 0; }
  bool checkPeerCertificate(X509* certificate);
  void markDead();

  loop::Loop& loop_;
  std::shared_ptr<Certificate> certificate_;
  DtlsTransport::Callbacks callbacks_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  Role role_ = Role::Client;
  State state_ = State::New;

 private:
  // Counts nesting inside SSL_* calls, where callbacks (sendDatagram) may run.
  struct SslScope {
    explicit SslScope(DtlsCore& core) : core(core) { ++core.sslDepth_; }
    ~SslScope() { --core.sslDepth_; }
    DtlsCore& core;
  };

  void setUp();
  bool active() const {
    return !dead_ && (state_ == State::Connecting || state_ == State::Connected);
  }
  bool awaitingFingerprint() const { return handshakeDone_ && state_ == State::Connecting; }
  void processEarly();
  void process(std::span<const std::uint8_t> datagram);
  void drainNested();
  void handshakeStep();
  void onHandshakeDone();
  void drainRead();
  bool writeRecords(std::span<const std::uint8_t> data);
  void afterSsl();
  void handleError(int result, const char* context);
  void fail(const std::string& message);
  void closedByPeer();
  void sendCloseNotify();
  std::string fingerprintProblem(X509* certificate) const;
  void updateTimer();
  void cancelTimer();
  void onTimer();

  bool dead_ = false;
  bool handshakeDone_ = false;
  bool processing_ = false;
  int sslDepth_ = 0;
  bool shutdownPending_ = false;
  std::string remoteAlgorithm_;
  std::string remoteFingerprint_;
  std::string verifyError_;
  PacketQueue early_{kMaxEarlyDatagrams};
  PacketQueue nested_{kMaxNestedDatagrams};
  std::deque<std::vector<std::uint8_t>> deferredWrites_;
  const std::uint8_t* input_ = nullptr;
  std::size_t inputLength_ = 0;
  loop::Timer timer_;
  std::int64_t timerDeadline_ = 0;
  std::array<std::uint8_t, kMaxRecordPlaintext + 1024> readBuffer_;
};

DtlsCore* coreOf(BIO* bio) { return static_cast<DtlsCore*>(BIO_get_data(bio)); }

// Output: one call, one datagram. Input: the datagram being processed, whole, once.
int bioWrite(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  if (DtlsCore* core = coreOf(bio)) {
    core->emit({reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(length)});
  }
  return length;
}

int bioRead(BIO* bio, char* out, int capacity) {
  BIO_clear_retry_flags(bio);
  DtlsCore* core = coreOf(bio);
  if (!core || !core->hasInput()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  return core->readInput(out, capacity);
}

long bioCtrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_WPENDING:
      return 0;  // nothing is ever held back
    case BIO_CTRL_PENDING: {
      DtlsCore* core = coreOf(bio);
      return core ? static_cast<long>(core->inputSize()) : 0;
    }
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return kMtu;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
      return 0;  // kMtu already is the datagram payload size
    default:
      return 0;
  }
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  BIO_set_data(bio, nullptr);
  return 1;
}

int bioDestroy(BIO* bio) {
  if (!bio) return 0;
  BIO_set_data(bio, nullptr);
  return 1;
}

BIO_METHOD* datagramBioMethod() {
  // Created once, deliberately never freed: SSL objects may outlive static destruction.
  static BIO_METHOD* method = [] {
    int index = BIO_get_new_index();
    BIO_METHOD* m =
        BIO_meth_new((index > 0 ? index : 0) | BIO_TYPE_SOURCE_SINK, "trystero DTLS datagram");
    if (!m || !BIO_meth_set_write(m, bioWrite) || !BIO_meth_set_read(m, bioRead) ||
        !BIO_meth_set_ctrl(m, bioCtrl) || !BIO_meth_set_create(m, bioCreate) ||
        !BIO_meth_set_destroy(m, bioDestroy)) {
      throw std::runtime_error("DTLS: cannot create BIO method");
    }
    return m;
  }();
  return method;
}

unsigned int timerCallback(SSL*, unsigned int previousUs) {
  if (previousUs == 0) return kInitialTimeoutUs;
  return std::min(previousUs * 2, kMaxTimeoutUs);
}

// Replaces chain verification: WebRTC certificates are self-signed and authenticated by the
// SDP fingerprint instead.
int certificateVerifyCallback(X509_STORE_CTX* store, void*) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* core = ssl ? static_cast<DtlsCore*>(SSL_get_app_data(ssl)) : nullptr;
  X509* certificate = X509_STORE_CTX_get0_cert(store);
  if (!core || !certificate) return 0;
  if (core->checkPeerCertificate(certificate)) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

[[noreturn]] void throwSetup(const char* what) {
  throw std::runtime_error(std::string("DTLS setup failed (") + what + "): " + takeOpenSslErrors());
}

}  // namespace

DtlsCore::DtlsCore(loop::Loop& loop, std::shared_ptr<Certificate> certificate,
                   DtlsTransport::Callbacks callbacks)
    : loop_(loop), certificate_(std::move(certificate)), callbacks_(std::move(callbacks)) {
  if (!certificate_) throw std::invalid_argument("DtlsTransport needs a certificate");
  try {
    setUp();
  } catch (...) {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    throw;
  }
}

void DtlsCore::setUp() {
  ERR_clear_error();
  ctx_ = SSL_CTX_new(DTLS_method());
  if (!ctx_) throwSetup("SSL_CTX_new");
  if (!SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION)) {
    throwSetup("protocol version");
  }
  if (SSL_CTX_set_cipher_list(ctx_, kCipherList) != 1) throwSetup("cipher list");
  if (SSL_CTX_set1_groups_list(ctx_, "X25519:P-256:P-384") != 1) throwSetup("groups");
  // Note the inverted convention: 0 means success here.
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, kSrtpProfiles) != 0) throwSetup("use_srtp");
  if (SSL_CTX_use_certificate(ctx_, certificate_->x509()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx_, certificate_->privateKey()) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1) {
    throwSetup("certificate");
  }
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx_, certificateVerifyCallback, nullptr);
  SSL_CTX_set_read_ahead(ctx_, 0);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);

  ssl_ = SSL_new(ctx_);
  if (!ssl_) throwSetup("SSL_new");
  SSL_set_app_data(ssl_, this);
  BIO* bio = BIO_new(datagramBioMethod());
  if (!bio) throwSetup("BIO_new");
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, used for both directions
  // After the BIO is in place, since the minimum MTU check asks it for its overhead.
  if (SSL_set_mtu(ssl_, kMtu) <= 0) throwSetup("MTU");
  DTLS_set_timer_cb(ssl_, timerCallback);
}

DtlsCore::~DtlsCore() {
  cancelTimer();
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
}

void DtlsCore::markDead() {
  dead_ = true;
  cancelTimer();
  early_.clear();
  nested_.clear();
  deferredWrites_.clear();
}

// ---- OpenSSL hooks ----

void DtlsCore::emit(std::span<const std::uint8_t> datagram) {
  if (!dead_ && callbacks_.sendDatagram) callbacks_.sendDatagram(datagram);
}

int DtlsCore::readInput(char* out, int capacity) {
  // A datagram larger than the buffer is truncated; its record then fails to parse and is
  // dropped, as on a real socket.
  std::size_t n = std::min(inputLength_, static_cast<std::size_t>(std::max(capacity, 0)));
  std::copy_n(input_, n, reinterpret_cast<std::uint8_t*>(out));
  input_ = nullptr;
  inputLength_ = 0;
  return static_cast<int>(n);
}

bool DtlsCore::checkPeerCertificate(X509* certificate) {
  // Unknown yet: accepted here and checked as soon as the fingerprint arrives, before any
  // application data is delivered.
  if (remoteAlgorithm_.empty() && remoteFingerprint_.empty()) return true;
  verifyError_ = fingerprintProblem(certificate);
  return verifyError_.empty();
}

std::string DtlsCore::fingerprintProblem(X509* certificate) const {
  if (lowerCase(remoteAlgorithm_) != "sha-256") {
    return "DTLS fingerprint algorithm '" + remoteAlgorithm_ + "' is not supported (sha-256 only)";
  }
  if (!certificate) return "DTLS peer sent no certificate";
  std::string actual = sha256Fingerprint(certificate);
  if (actual != remoteFingerprint_) {
    return "DTLS fingerprint mismatch: expected " + remoteFingerprint_ + ", got " + actual;
  }
  return {};
}

// ---- Operations ----

void DtlsCore::setRemoteFingerprint(const std::string& algorithm, const std::string& fingerprint) {
  remoteAlgorithm_ = algorithm;
  remoteFingerprint_ = normalizeFingerprint(fingerprint);
  if (!dead_ && awaitingFingerprint() && sslDepth_ == 0) {
    onHandshakeDone();
    afterSsl();
  }
}

void DtlsCore::start(Role role) {
  if (dead_ || state_ != State::New) return;
  role_ = role;
  state_ = State::Connecting;
  if (role == Role::Client) {
    SSL_set_connect_state(ssl_);
    handshakeStep();  // sends the ClientHello
    afterSsl();
  } else {
    SSL_set_accept_state(ssl_);
  }
  processEarly();
}

void DtlsCore::receive(std::span<const std::uint8_t> datagram) {
  if (dead_ || datagram.empty()) return;
  if (state_ == State::New || awaitingFingerprint()) {
    early_.push(datagram);
    return;
  }
  if (state_ != State::Connecting && state_ != State::Connected) return;
  if (processing_ || sslDepth_ > 0) {
    // Re-entrant delivery (from inside one of our callbacks): keep the order, process later.
    nested_.push(datagram);
    return;
  }
  processing_ = true;
  process(datagram);
  drainNested();
  processing_ = false;
}

void DtlsCore::processEarly() {
  for (auto& datagram : early_.takeAll()) {
    if (!active()) break;
    receive(datagram);
  }
}

void DtlsCore::drainNested() {
  while (!nested_.empty() && active()) {
    std::vector<std::uint8_t> datagram = nested_.pop();
    if (awaitingFingerprint()) {
      early_.push(datagram);
      continue;
    }
    process(datagram);
  }
}

void DtlsCore::process(std::span<const std::uint8_t> datagram) {
  input_ = datagram.data();
  inputLength_ = datagram.size();
  if (!handshakeDone_) handshakeStep();
  // The datagram that completes the handshake may carry application records too: OpenSSL keeps
  // them buffered and SSL_read returns them.
  if (state_ == State::Connected) drainRead();
  input_ = nullptr;
  inputLength_ = 0;
  afterSsl();
}

void DtlsCore::handshakeStep() {
  ERR_clear_error();
  int result;
  {
    SslScope scope(*this);
    result = SSL_do_handshake(ssl_);
  }
  if (dead_ || state_ != State::Connecting) return;
  if (result == 1) {
    handshakeDone_ = true;
    onHandshakeDone();
    return;
  }
  handleError(result, "handshake");
}

void DtlsCore::onHandshakeDone() {
  if (remoteAlgorithm_.empty() && remoteFingerprint_.empty()) return;  // wait for it
  X509* peer = SSL_get0_peer_certificate(ssl_);
  std::string problem = fingerprintProblem(peer);
  if (!problem.empty()) {
    sendCloseNotify();  // the peer's handshake succeeded: tell it we are gone
    fail(problem);
    return;
  }
  state_ = State::Connected;
  cancelTimer();
  if (callbacks_.onConnected) callbacks_.onConnected();
  if (!active()) return;
  if (sslDepth_ == 0) drainRead();  // records that came with the last flight
  processEarly();
}

void DtlsCore::drainRead() {
  while (active() && state_ == State::Connected) {
    // SSL_get_error consults the thread's error queue, so it must start empty; peeking first is
    // cheaper than an unconditional ERR_clear_error, which shows in per-packet profiles.
    if (ERR_peek_error() != 0) ERR_clear_error();
    int result;
    {
      SslScope scope(*this);
      result = SSL_read(ssl_, readBuffer_.data(), static_cast<int>(readBuffer_.size()));
    }
    if (result > 0) {
      // Decided before the callback, which may feed a new datagram in (it is queued then).
      bool more = input_ != nullptr || SSL_has_pending(ssl_);
      if (!dead_ && callbacks_.onData) {
        callbacks_.onData({readBuffer_.data(), static_cast<std::size_t>(result)});
      }
      if (!more) break;  // spares the SSL_read that would only report WANT_READ
      continue;
    }
    if (!dead_) handleError(result, "read");
    break;
  }
}

bool DtlsCore::send(std::span<const std::uint8_t> data) {
  if (dead_ || state_ != State::Connected) return false;
  if (data.empty()) return true;
  if (sslDepth_ > 0) {
    // Called from inside an SSL_* call (sendDatagram): write once it has returned.
    deferredWrites_.emplace_back(data.begin(), data.end());
    return true;
  }
  bool ok = writeRecords(data);
  afterSsl();
  return ok;
}

bool DtlsCore::writeRecords(std::span<const std::uint8_t> data) {
  // One record holds at most 16 KiB; larger buffers go out as several records.
  while (!data.empty()) {
    if (dead_ || (state_ != State::Connected && !shutdownPending_)) return false;
    std::size_t chunk = std::min(data.size(), kMaxRecordPlaintext);
    // No error-queue clearing here: with our BIO a write never waits, so any result <= 0 is a
    // failure whatever SSL_get_error says.
    int result;
    {
      SslScope scope(*this);
      result = SSL_write(ssl_, data.data(), static_cast<int>(chunk));
    }
    if (result <= 0) {
      if (!dead_) handleError(result, "write");
      return false;
    }
    data = data.subspan(chunk);
  }
  return true;
}

void DtlsCore::close() {
  if (dead_ || state_ == State::Closed || state_ == State::Failed) return;
  bool wasConnected = state_ == State::Connected;
  if (wasConnected && sslDepth_ > 0) {
    // Inside an SSL_* call: earlier deferred writes, then close_notify, once it returns.
    shutdownPending_ = true;
    state_ = State::Closed;
    cancelTimer();
    return;
  }
  state_ = State::Closed;
  cancelTimer();
  if (wasConnected) sendCloseNotify();
  early_.clear();
  nested_.clear();
  deferredWrites_.clear();
}

void DtlsCore::sendCloseNotify() {
  if (sslDepth_ > 0) {
    shutdownPending_ = true;
    return;
  }
  ERR_clear_error();
  {
    SslScope scope(*this);
    SSL_shutdown(ssl_);
  }
  ERR_clear_error();
}

std::optional<SrtpProfile> DtlsCore::srtpProfile() const {
  if (dead_ || state_ != State::Connected) return std::nullopt;
  const SRTP_PROTECTION_PROFILE* selected = SSL_get_selected_srtp_profile(ssl_);
  if (!selected || !selected->name) return std::nullopt;
  return srtpProfileFromName(selected->name);
}

std::string DtlsCore::exportKeyingMaterial(const std::string& label, std::size_t length) const {
  if (dead_ || state_ != State::Connected || length == 0) return {};
  std::string out(length, '\0');
  if (SSL_export_keying_material(ssl_, reinterpret_cast<unsigned char*>(out.data()), length,
                                 label.data(), label.size(), nullptr, 0, 0) != 1) {
    ERR_clear_error();
    return {};
  }
  return out;
}

// Runs after every top-level SSL_* call: work postponed because it was requested from inside
// one, then the retransmission timer.
void DtlsCore::afterSsl() {
  if (sslDepth_ > 0 || dead_) return;
  while (!deferredWrites_.empty()) {
    std::vector<std::uint8_t> data = std::move(deferredWrites_.front());
    deferredWrites_.pop_front();
    if (!writeRecords(data)) break;
  }
  deferredWrites_.clear();
  if (shutdownPending_ && !dead_) {
    shutdownPending_ = false;
    sendCloseNotify();
  }
  if (!processing_ && !nested_.empty() && active()) {
    processing_ = true;
    drainNested();
    processing_ = false;
  }
  updateTimer();
}

void DtlsCore::handleError(int result, const char* context) {
  int error = SSL_get_error(ssl_, result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      closedByPeer();
      return;
    default:
      break;
  }
  std::string detail = takeOpenSslErrors();
  if (!verifyError_.empty()) {
    fail(verifyError_);
  } else if (!handshakeDone_) {
    fail("DTLS handshake failed: " + detail);
  } else {
    fail(std::string("DTLS ") + context + " failed: " + detail);
  }
}

void DtlsCore::fail(const std::string& message) {
  if (state_ == State::Closed || state_ == State::Failed) return;
  state_ = State::Failed;
  cancelTimer();
  early_.clear();
  nested_.clear();
  if (!dead_ && callbacks_.onFailed) callbacks_.onFailed(message);
}

void DtlsCore::closedByPeer() {
  if (state_ == State::Closed || state_ == State::Failed) return;
  state_ = State::Closed;
  cancelTimer();
  early_.clear();
  nested_.clear();
  if (!dead_ && callbacks_.onClosed) callbacks_.onClosed();
}

// ---- Retransmission timer ----

void DtlsCore::updateTimer() {
  if (dead_ || state_ != State::Connecting) {
    cancelTimer();
    return;
  }
  timeval remaining{};
  if (DTLSv1_get_timeout(ssl_, &remaining) != 1) {
    cancelTimer();
    return;
  }
  std::int64_t delayMs =
      static_cast<std::int64_t>(remaining.tv_sec) * 1000 + (remaining.tv_usec + 999) / 1000;
  std::int64_t deadline = loop_.nowMs() + delayMs;
  if (timer_ && std::abs(deadline - timerDeadline_) <= 1) return;
  cancelTimer();
  timerDeadline_ = deadline;
  std::weak_ptr<DtlsCore> weak = weak_from_this();
  timer_ = loop_.after(std::chrono::milliseconds(delayMs), [weak] {
    if (auto core = weak.lock()) core->onTimer();
  });
}

void DtlsCore::cancelTimer() { timer_.cancel(); }

void DtlsCore::onTimer() {
  timer_ = {};  // one-shot: already finished
  if (dead_ || state_ != State::Connecting || sslDepth_ > 0) return;
  ERR_clear_error();
  int result;
  {
    SslScope scope(*this);
    result = DTLSv1_handle_timeout(ssl_);
  }
  if (result < 0 && !dead_) fail("DTLS handshake timed out: " + takeOpenSslErrors());
  afterSsl();
}

// ---- DtlsTransport ----

struct DtlsTransport::Impl {
  std::shared_ptr<DtlsCore> core;
};

DtlsTransport::DtlsTransport(loop::Loop& loop, std::shared_ptr<Certificate> certificate,
                             Callbacks callbacks)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<DtlsCore>(loop, std::move(certificate), std::move(callbacks));
}

DtlsTransport::~DtlsTransport() {
  // If a callback of ours is on the stack, the references held by the running entry point keep
  // the Core (and the callback objects) alive until it unwinds; it does nothing more.
  if (impl_ && impl_->core) impl_->core->markDead();
}

void DtlsTransport::setRemoteFingerprint(const std::string& algorithm,
                                         const std::string& fingerprint) {
  std::shared_ptr<DtlsCore> core = impl_->core;
  core->setRemoteFingerprint(algorithm, fingerprint);
}

void DtlsTransport::start(Role role) {
  std::shared_ptr<DtlsCore> core = impl_->core;
  core->start(role);
}

void DtlsTransport::receive(std::span<const std::uint8_t> datagram) {
  std::shared_ptr<DtlsCore> core = impl_->core;
  core->receive(datagram);
}

bool DtlsTransport::send(std::span<const std::uint8_t> data) {
  std::shared_ptr<DtlsCore> core = impl_->core;
  return core->send(data);
}

void DtlsTransport::close() {
  std::shared_ptr<DtlsCore> core = impl_->core;
  core->close();
}

DtlsTransport::State DtlsTransport::state() const { return impl_->core->state_; }

DtlsTransport::Role DtlsTransport::role() const { return impl_->core->role_; }

std::string DtlsTransport::exportKeyingMaterial(const std::string& label,
                                                std::size_t length) const {
  return impl_->core->exportKeyingMaterial(label, length);
}

std::optional<SrtpProfile> DtlsTransport::srtpProfile() const { return impl_->core->srtpProfile(); }

}  // namespace trystero::rtc
