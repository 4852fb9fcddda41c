// SRTP and SRTCP (RFC 3711, RFC 7714) keyed by DTLS-SRTP (RFC 5764), on libsrtp2: what protects
// audio and video beside the data channel on the same DTLS association. One session serves one
// peer connection: it protects what we send with our keys and unprotects what arrives with the
// peer's, for every SSRC.
// Loop thread only (one session is not safe to share); libsrtp's global init is done once, from
// any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace trystero::rtc {

// The profiles we offer in the DTLS use_srtp extension, in order of preference.
enum class SrtpProfile {
  AeadAes128Gcm,    // SRTP_AEAD_AES_128_GCM (RFC 7714): 16-byte key, 12-byte salt, 16-byte tag
  Aes128CmSha1_80,  // SRTP_AES128_CM_SHA1_80 (RFC 3711): 16-byte key, 14-byte salt, 10-byte tag
};

// The OpenSSL name of a profile ("SRTP_AEAD_AES_128_GCM") and back; nullopt for others.
const char* srtpProfileName(SrtpProfile profile);
std::optional<SrtpProfile> srtpProfileFromName(std::string_view name);

// How many bytes to export with the label "EXTRACTOR-dtls_srtp" for a profile (RFC 5764 4.2:
// two keys and two salts).
std::size_t srtpKeyingMaterialLength(SrtpProfile profile);

// The most bytes protect*() adds to a packet: reserve this much room after it.
inline constexpr std::size_t kSrtpMaxOverhead = 16 + 4 + 128;  // tag + SRTCP index + MKI bound

class SrtpSession {
 public:
  enum class Error {
    None,
    Malformed,       // too short, or not RTP/RTCP
    Authentication,  // the tag does not match: forged, corrupted, or another key
    Replay,          // seen before, or too old for the replay window
    Other,
  };

  struct Stats {
    std::uint64_t protectedPackets = 0;
    std::uint64_t unprotectedPackets = 0;
    std::uint64_t authenticationFailures = 0;
    std::uint64_t replays = 0;
    std::uint64_t malformed = 0;
  };

  // From the DTLS keying material (client key | server key | client salt | server salt); we send
  // with the client's half when we were the DTLS client. nullptr (and error set) when the
  // material has the wrong length or libsrtp refuses the keys.
  static std::unique_ptr<SrtpSession> fromDtls(SrtpProfile profile,
                                               std::span<const std::uint8_t> keyingMaterial,
                                               bool weAreDtlsClient, std::string* error);
  ~SrtpSession();
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;

  // Encrypts and authenticates packet in place, growing it by at most kSrtpMaxOverhead.
  Error protectRtp(std::vector<std::uint8_t>& packet);
  Error protectRtcp(std::vector<std::uint8_t>& packet);
  // Verifies and decrypts packet in place, shrinking it to the plain packet. On an error the
  // packet's content is unspecified; drop it.
  Error unprotectRtp(std::vector<std::uint8_t>& packet);
  Error unprotectRtcp(std::vector<std::uint8_t>& packet);

  SrtpProfile profile() const;
  const Stats& stats() const;

 private:
  struct Impl;
  explicit SrtpSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero::rtc
