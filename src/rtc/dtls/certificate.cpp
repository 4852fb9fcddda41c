#include "rtc/dtls/certificate.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "crypto/crypto.hpp"

namespace trystero::rtc {

namespace {

constexpr long kOneDay = 24L * 60 * 60;
constexpr long kValidDays = 30;

[[noreturn]] void throwOpenSsl(const char* what) {
  std::string message = std::string("certificate generation failed: ") + what;
  char buffer[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buffer, sizeof buffer);
    message += "; ";
    message += buffer;
  }
  throw std::runtime_error(message);
}

// Owns the OpenSSL objects until generate() hands them to the Certificate.
struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* x509 = nullptr;
  ~KeyAndCert() {
    X509_free(x509);
    EVP_PKEY_free(key);
  }
};

void setRandomSerial(X509* x509) {
  BIGNUM* bn = BN_new();
  // 63 random bits with the top one set: positive, non-zero, 8 bytes of DER.
  bool ok = bn && BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nullptr;
  BN_free(bn);
  if (!ok) throwOpenSsl("serial number");
}

std::string randomCommonName() {
  std::uint8_t bytes[6];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throwOpenSsl("random name");
  return crypto::hexEncode(bytes);
}

}  // namespace

std::shared_ptr<Certificate> Certificate::generate() {
  ERR_clear_error();
  KeyAndCert parts;
  parts.key = EVP_EC_gen("P-256");
  if (!parts.key) throwOpenSsl("P-256 key");
  parts.x509 = X509_new();
  if (!parts.x509) throwOpenSsl("X509_new");
  X509* x509 = parts.x509;
  if (X509_set_version(x509, X509_VERSION_3) != 1) throwOpenSsl("version");
  setRandomSerial(x509);
  if (!X509_gmtime_adj(X509_getm_notBefore(x509), -kOneDay) ||
      !X509_gmtime_adj(X509_getm_notAfter(x509), kValidDays * kOneDay)) {
    throwOpenSsl("validity");
  }
  X509_NAME* name = X509_get_subject_name(x509);
  const std::string commonName = randomCommonName();
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(x509, name) != 1) {
    throwOpenSsl("name");
  }
  if (X509_set_pubkey(x509, parts.key) != 1) throwOpenSsl("public key");
  if (X509_sign(x509, parts.key, EVP_sha256()) <= 0) throwOpenSsl("signature");

  auto certificate = std::shared_ptr<Certificate>(new Certificate(parts.x509, parts.key));
  parts.x509 = nullptr;
  parts.key = nullptr;
  return certificate;
}

std::shared_ptr<Certificate> Certificate::shared() {
  // Thread-safe lazy initialisation; a failed generation throws and is retried on the next call.
  static const std::shared_ptr<Certificate> instance = generate();
  return instance;
}

Certificate::Certificate(X509* x509, EVP_PKEY* key)
    : x509_(x509), key_(key), fingerprint_(sha256Fingerprint(x509)) {}

Certificate::~Certificate() {
  X509_free(x509_);
  EVP_PKEY_free(key_);
}

std::string sha256Fingerprint(X509* certificate) {
  if (!certificate) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) return {};
  return crypto::fingerprintHex({digest, length});
}

}  // namespace trystero::rtc
