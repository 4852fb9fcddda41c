// A self-signed ECDSA P-256 certificate, as browsers generate for RTCPeerConnection.
#pragma once

#include <memory>
#include <string>

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace trystero::rtc {

class Certificate {
 public:
  // Generates a fresh key pair and certificate (about 1 ms). Throws std::runtime_error on failure.
  static std::shared_ptr<Certificate> generate();
  // One certificate per process, generated on first use; sharing it spares the key generation
  // on every connection, as browsers do per RTCPeerConnection origin.
  static std::shared_ptr<Certificate> shared();

  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  // SHA-256 fingerprint of the DER certificate in SDP form: upper-case hex pairs joined by ':'.
  const std::string& fingerprint() const { return fingerprint_; }
  X509* x509() const { return x509_; }
  EVP_PKEY* privateKey() const { return key_; }

 private:
  Certificate(X509* x509, EVP_PKEY* key);
  X509* x509_;
  EVP_PKEY* key_;
  std::string fingerprint_;
};

// SHA-256 fingerprint of a certificate in SDP form (used for the peer's certificate too).
std::string sha256Fingerprint(X509* certificate);

}  // namespace trystero::rtc
