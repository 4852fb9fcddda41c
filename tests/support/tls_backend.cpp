// GIO loads its TLS backend (glib-networking's GnuTLS module) on first use. Loaded that late,
// GnuTLS makes LeakSanitizer's exit-time tracer crash (SIGSEGV inside the tracer; seen with the
// WebSocket TLS tests). Programs using the library always have GnuTLS from the start, through
// libnice; the tests of the lower layers, which do not link libnice, load it up front as well.
#include <gnutls/gnutls.h>

namespace {
[[maybe_unused]] const char* const kGnutlsAtStart = gnutls_check_version(nullptr);
}  // namespace
