#include "rtc/srtp/srtp_session.hpp"

#include <srtp2/srtp.h>

#include <cstring>
#include <mutex>

namespace trystero::rtc {

namespace {

constexpr std::size_t kKeyBytes = 16;
constexpr std::size_t kRtpHeaderBytes = 12;
constexpr std::size_t kRtcpHeaderBytes = 8;
// Packets above this are not RTP we take (an MTU-sized datagram is far below).
constexpr std::size_t kMaxPacketBytes = 64 * 1024;
// Large enough for video bursts and NACK retransmissions arriving late.
constexpr unsigned long kReplayWindow = 1024;

std::size_t saltBytes(SrtpProfile profile) {
  return profile == SrtpProfile::AeadAes128Gcm ? 12 : 14;
}

srtp_err_status_t initOnce() {
  static srtp_err_status_t status = srtp_init();
  return status;
}

void setPolicy(SrtpProfile profile, srtp_policy_t& policy) {
  if (profile == SrtpProfile::AeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  }
}

SrtpSession::Error errorOf(srtp_err_status_t status) {
  switch (status) {
    case srtp_err_status_ok:
      return SrtpSession::Error::None;
    case srtp_err_status_auth_fail:
      return SrtpSession::Error::Authentication;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SrtpSession::Error::Replay;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return SrtpSession::Error::Malformed;
    default:
      return SrtpSession::Error::Other;
  }
}

}  // namespace

const char* srtpProfileName(SrtpProfile profile) {
  return profile == SrtpProfile::AeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80";
}

std::optional<SrtpProfile> srtpProfileFromName(std::string_view name) {
  if (name == "SRTP_AEAD_AES_128_GCM") return SrtpProfile::AeadAes128Gcm;
  if (name == "SRTP_AES128_CM_SHA1_80") return SrtpProfile::Aes128CmSha1_80;
  return std::nullopt;
}

std::size_t srtpKeyingMaterialLength(SrtpProfile profile) {
  return 2 * (kKeyBytes + saltBytes(profile));
}

struct SrtpSession::Impl {
  SrtpProfile profile = SrtpProfile::AeadAes128Gcm;
  srtp_t outbound = nullptr;
  srtp_t inbound = nullptr;
  Stats stats;

  ~Impl() {
    if (outbound) srtp_dealloc(outbound);
    if (inbound) srtp_dealloc(inbound);
  }

  // A libsrtp session for one direction; key is key || salt.
  static srtp_err_status_t create(SrtpProfile profile, std::vector<std::uint8_t>& key,
                                  bool outgoing, srtp_t& session) {
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof(policy));
    setPolicy(profile, policy);
    policy.ssrc.type = outgoing ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = key.data();
    policy.window_size = kReplayWindow;
    // A retransmission (NACK answered from a buffer) repeats a packet we protected before.
    policy.allow_repeat_tx = outgoing ? 1 : 0;
    return srtp_create(&session, &policy);
  }

  template <typename Operation>
  Error grow(std::vector<std::uint8_t>& packet, std::size_t minimum, Operation operation) {
    if (packet.size() < minimum || packet.size() > kMaxPacketBytes) {
      stats.malformed++;
      return Error::Malformed;
    }
    int length = static_cast<int>(packet.size());
    packet.resize(packet.size() + kSrtpMaxOverhead);
    auto status = operation(outbound, packet.data(), &length);
    packet.resize(status == srtp_err_status_ok ? static_cast<std::size_t>(length)
                                               : packet.size() - kSrtpMaxOverhead);
    if (status == srtp_err_status_ok) stats.protectedPackets++;
    return errorOf(status);
  }

  template <typename Operation>
  Error shrink(std::vector<std::uint8_t>& packet, std::size_t minimum, Operation operation) {
    if (packet.size() < minimum || packet.size() > kMaxPacketBytes) {
      stats.malformed++;
      return Error::Malformed;
    }
    int length = static_cast<int>(packet.size());
    auto status = operation(inbound, packet.data(), &length);
    Error error = errorOf(status);
    switch (error) {
      case Error::None:
        packet.resize(static_cast<std::size_t>(length));
        stats.unprotectedPackets++;
        break;
      case Error::Authentication:
        stats.authenticationFailures++;
        break;
      case Error::Replay:
        stats.replays++;
        break;
      default:
        stats.malformed++;
    }
    return error;
  }
};

std::unique_ptr<SrtpSession> SrtpSession::fromDtls(SrtpProfile profile,
                                                   std::span<const std::uint8_t> keyingMaterial,
                                                   bool weAreDtlsClient, std::string* error) {
  auto fail = [&](std::string message) -> std::unique_ptr<SrtpSession> {
    if (error) *error = std::move(message);
    return nullptr;
  };
  if (keyingMaterial.size() != srtpKeyingMaterialLength(profile)) {
    return fail("SRTP keying material of " + std::to_string(keyingMaterial.size()) +
                " bytes, expected " + std::to_string(srtpKeyingMaterialLength(profile)));
  }
  if (auto status = initOnce(); status != srtp_err_status_ok) {
    return fail("srtp_init failed (" + std::to_string(status) + ")");
  }
  const std::size_t salt = saltBytes(profile);
  // libsrtp takes one key || salt buffer per direction.
  auto keyOf = [&](bool client) {
    std::vector<std::uint8_t> key(kKeyBytes + salt);
    std::memcpy(key.data(), keyingMaterial.data() + (client ? 0 : kKeyBytes), kKeyBytes);
    std::memcpy(key.data() + kKeyBytes,
                keyingMaterial.data() + 2 * kKeyBytes + (client ? 0 : salt), salt);
    return key;
  };
  auto local = keyOf(weAreDtlsClient);
  auto remote = keyOf(!weAreDtlsClient);
  auto impl = std::make_unique<Impl>();
  impl->profile = profile;
  if (auto status = Impl::create(profile, local, true, impl->outbound);
      status != srtp_err_status_ok) {
    return fail("libsrtp refused the outbound keys (" + std::to_string(status) + ")");
  }
  if (auto status = Impl::create(profile, remote, false, impl->inbound);
      status != srtp_err_status_ok) {
    return fail("libsrtp refused the inbound keys (" + std::to_string(status) + ")");
  }
  return std::unique_ptr<SrtpSession>(new SrtpSession(std::move(impl)));
}

SrtpSession::SrtpSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SrtpSession::~SrtpSession() = default;

SrtpSession::Error SrtpSession::protectRtp(std::vector<std::uint8_t>& packet) {
  return impl_->grow(packet, kRtpHeaderBytes, [](srtp_t s, std::uint8_t* data, int* length) {
    return srtp_protect(s, data, length);
  });
}

SrtpSession::Error SrtpSession::protectRtcp(std::vector<std::uint8_t>& packet) {
  return impl_->grow(packet, kRtcpHeaderBytes, [](srtp_t s, std::uint8_t* data, int* length) {
    return srtp_protect_rtcp(s, data, length);
  });
}

SrtpSession::Error SrtpSession::unprotectRtp(std::vector<std::uint8_t>& packet) {
  return impl_->shrink(packet, kRtpHeaderBytes, [](srtp_t s, std::uint8_t* data, int* length) {
    return srtp_unprotect(s, data, length);
  });
}

SrtpSession::Error SrtpSession::unprotectRtcp(std::vector<std::uint8_t>& packet) {
  return impl_->shrink(packet, kRtcpHeaderBytes, [](srtp_t s, std::uint8_t* data, int* length) {
    return srtp_unprotect_rtcp(s, data, length);
  });
}

SrtpProfile SrtpSession::profile() const { return impl_->profile; }
const SrtpSession::Stats& SrtpSession::stats() const { return impl_->stats; }

}  // namespace trystero::rtc
