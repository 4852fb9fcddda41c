#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loop/loop.hpp"
#include "rtc/dtls/certificate.hpp"
#include "rtc/dtls/dtls_transport.hpp"
#include "rtc/srtp/srtp_session.hpp"

namespace {

using namespace std::chrono_literals;
using trystero::loop::Loop;
using trystero::rtc::Certificate;
using trystero::rtc::DtlsTransport;
using trystero::rtc::srtpKeyingMaterialLength;
using trystero::rtc::SrtpProfile;
using trystero::rtc::SrtpSession;
using Bytes = std::vector<std::uint8_t>;
using Role = DtlsTransport::Role;
using State = DtlsTransport::State;

Bytes pattern(std::size_t size, std::uint32_t seed) {
  Bytes out(size);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return out;
}

Bytes randomDatagram(std::mt19937& rng, std::size_t size) {
  Bytes out(size);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  out[0] = static_cast<std::uint8_t>(20 + rng() % 44);  // what the demultiplexer lets through
  return out;
}

struct Endpoint {
  std::shared_ptr<Certificate> certificate;
  std::unique_ptr<DtlsTransport> transport;
  int target = -1;  // endpoint receiving our datagrams
  int connected = 0;
  int closed = 0;
  std::vector<std::string> failures;
  std::vector<Bytes> received;
  std::vector<Bytes> sent;  // every datagram emitted
  std::int64_t connectedAtMs = -1;
};

// Up to three endpoints on one loop; datagrams cross through loop.post (never re-entrant) unless
// `synchronous` is set. `mangle` decides what actually arrives for each datagram sent.
class Network {
 public:
  using Mangle = std::function<std::vector<Bytes>(int from, const Bytes&)>;

  Network() = default;
  ~Network() {
    loop.invoke([this] {
      for (auto& e : endpoints) e.transport.reset();
    });
  }

  void add(int index, int target, std::shared_ptr<Certificate> certificate = nullptr) {
    loop.invoke([&] {
      Endpoint& e = endpoints[index];
      e.certificate = certificate ? certificate : Certificate::generate();
      e.target = target;
      DtlsTransport::Callbacks callbacks;
      callbacks.sendDatagram = [this, index](std::span<const std::uint8_t> datagram) {
        onSend(index, Bytes(datagram.begin(), datagram.end()));
      };
      callbacks.onConnected = [this, index] {
        endpoints[index].connected++;
        endpoints[index].connectedAtMs = trystero::loop::nowMs();
        if (onConnected) onConnected(index);
      };
      callbacks.onData = [this, index](std::span<const std::uint8_t> data) {
        endpoints[index].received.emplace_back(data.begin(), data.end());
        if (onData) onData(index);
      };
      callbacks.onClosed = [this, index] { endpoints[index].closed++; };
      callbacks.onFailed = [this, index](const std::string& message) {
        endpoints[index].failures.push_back(message);
      };
      e.transport = std::make_unique<DtlsTransport>(loop, e.certificate, std::move(callbacks));
    });
  }

  // Two endpoints, 0 and 1, that know each other's fingerprints.
  void pair() {
    add(0, 1);
    add(1, 0);
    loop.invoke([&] {
      t(0).setRemoteFingerprint("sha-256", endpoints[1].certificate->fingerprint());
      t(1).setRemoteFingerprint("sha-256", endpoints[0].certificate->fingerprint());
    });
  }

  DtlsTransport& t(int index) { return *endpoints[index].transport; }

  void startBoth(Role first) {
    loop.invoke([&] {
      startMs = trystero::loop::nowMs();
      t(0).start(first);
      t(1).start(first == Role::Client ? Role::Server : Role::Client);
    });
  }

  template <typename F>
  bool waitFor(F predicate, std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (loop.invoke(predicate)) return true;
      std::this_thread::sleep_for(1ms);
    }
    return loop.invoke(predicate);
  }

  bool waitConnected(std::chrono::milliseconds timeout = 3000ms) {
    return waitFor([&] { return endpoints[0].connected == 1 && endpoints[1].connected == 1; },
                   timeout);
  }

  // Lets everything in flight settle.
  void settle(std::chrono::milliseconds duration = 50ms) {
    std::this_thread::sleep_for(duration);
    loop.invoke([] {});
  }

  void deliver(int to, const Bytes& datagram) {
    if (to >= 0 && endpoints[to].transport) endpoints[to].transport->receive(datagram);
  }

  std::array<Endpoint, 3> endpoints;
  Mangle mangle;
  bool synchronous = false;
  std::function<void(int)> onConnected;
  std::function<void(int)> onData;
  std::int64_t startMs = 0;
  Loop loop;  // declared last: destroyed first, while the endpoints still exist

 private:
  void onSend(int from, Bytes datagram) {
    endpoints[from].sent.push_back(datagram);
    int to = endpoints[from].target;
    std::vector<Bytes> arriving;
    if (mangle) {
      arriving = mangle(from, datagram);
    } else {
      arriving.push_back(std::move(datagram));
    }
    for (auto& d : arriving) {
      if (synchronous) {
        deliver(to, d);
      } else {
        loop.post([this, to, d = std::move(d)] { deliver(to, d); });
      }
    }
  }
};

bool isHandshakeRecord(const Bytes& d) { return !d.empty() && d[0] == 22; }

constexpr std::uint8_t kServerHelloDone = 14;

// Whether a datagram carries a handshake message of the given type (records may be packed).
bool containsHandshakeMessage(const Bytes& d, std::uint8_t type) {
  std::size_t offset = 0;
  while (offset + 13 <= d.size()) {
    std::size_t length = (std::size_t{d[offset + 11]} << 8) | d[offset + 12];
    if (d[offset] == 22 && length > 0 && offset + 13 < d.size() && d[offset + 13] == type) {
      return true;
    }
    offset += 13 + length;
  }
  return false;
}

// ---- Certificate ----

TEST(Certificate, IsSelfSignedP256WithSdpFingerprint) {
  auto certificate = Certificate::generate();
  ASSERT_TRUE(certificate);
  const std::string& fp = certificate->fingerprint();
  ASSERT_EQ(fp.size(), 32u * 3 - 1);
  for (std::size_t i = 0; i < fp.size(); ++i) {
    if (i % 3 == 2) {
      EXPECT_EQ(fp[i], ':');
    } else {
      EXPECT_TRUE((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F')) << fp;
    }
  }
  EXPECT_EQ(trystero::rtc::sha256Fingerprint(certificate->x509()), fp);

  X509* x509 = certificate->x509();
  EXPECT_EQ(X509_get_version(x509), 2);  // v3
  EXPECT_EQ(X509_check_private_key(x509, certificate->privateKey()), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(certificate->privateKey()), EVP_PKEY_EC);
  char group[64] = {};
  std::size_t groupLength = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(certificate->privateKey(), group, sizeof group, &groupLength),
            1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_get_signature_nid(x509), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x509), X509_get_issuer_name(x509)), 0);
  EXPECT_EQ(X509_verify(x509, certificate->privateKey()), 1);
  // Valid now, and for about a month.
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(x509)), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(x509)), 0);
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(x509), X509_get0_notAfter(x509)),
            1);
  EXPECT_EQ(days, 31);
}

TEST(Certificate, GeneratedOnesDifferAndSharedIsOne) {
  auto a = Certificate::generate();
  auto b = Certificate::generate();
  EXPECT_NE(a->fingerprint(), b->fingerprint());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->x509()), X509_get0_serialNumber(b->x509())),
            0);
  std::shared_ptr<Certificate> fromThreads[4];
  std::vector<std::thread> threads;
  for (auto& slot : fromThreads) threads.emplace_back([&slot] { slot = Certificate::shared(); });
  for (auto& thread : threads) thread.join();
  for (auto& c : fromThreads) EXPECT_EQ(c.get(), Certificate::shared().get());
}

// ---- Handshake ----

void expectHandshake(Role firstRole) {
  Network net;
  net.pair();
  net.startBoth(firstRole);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    EXPECT_EQ(net.t(0).state(), State::Connected);
    EXPECT_EQ(net.t(1).state(), State::Connected);
    EXPECT_EQ(net.t(0).role(), firstRole);
    EXPECT_TRUE(net.endpoints[0].failures.empty());
    EXPECT_TRUE(net.endpoints[1].failures.empty());
    std::int64_t done = std::max(net.endpoints[0].connectedAtMs, net.endpoints[1].connectedAtMs);
    std::printf("[          ] handshake took %lld ms\n",
                static_cast<long long>(done - net.startMs));
    // Handshake flights are fragmented to the 1200-byte MTU, one record per datagram.
    for (int i = 0; i < 2; ++i) {
      for (const Bytes& d : net.endpoints[i].sent) EXPECT_LE(d.size(), 1200u);
    }
  });
}

TEST(DtlsTransport, HandshakeWithFirstAsClient) { expectHandshake(Role::Client); }

TEST(DtlsTransport, HandshakeWithFirstAsServer) { expectHandshake(Role::Server); }

TEST(DtlsTransport, SendBeforeConnectedFails) {
  Network net;
  net.pair();
  net.loop.invoke([&] {
    Bytes data = pattern(10, 1);
    EXPECT_FALSE(net.t(0).send(data));
    EXPECT_EQ(net.t(0).state(), State::New);
    EXPECT_TRUE(net.t(0).exportKeyingMaterial("EXTRACTOR-dtls_srtp", 60).empty());
  });
}

TEST(DtlsTransport, ApplicationDataBothWaysByteExact) {
  Network net;
  net.pair();
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  constexpr int kMessages = 1000;
  std::vector<Bytes> expected[2];
  std::mt19937 rng(7);
  for (int i = 0; i < kMessages; ++i) {
    for (int side = 0; side < 2; ++side) {
      std::size_t size = i % 10 == 0 ? 16384 : 1 + rng() % 1200;
      expected[side].push_back(pattern(size, static_cast<std::uint32_t>(i * 2 + side)));
    }
  }
  net.loop.invoke([&] {
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(net.t(0).send(expected[0][i]));
      ASSERT_TRUE(net.t(1).send(expected[1][i]));
    }
  });
  ASSERT_TRUE(net.waitFor([&] {
    return net.endpoints[0].received.size() == kMessages &&
           net.endpoints[1].received.size() == kMessages;
  }));
  net.loop.invoke([&] {
    EXPECT_TRUE(net.endpoints[1].received == expected[0]);
    EXPECT_TRUE(net.endpoints[0].received == expected[1]);
    EXPECT_TRUE(net.endpoints[0].failures.empty());
    EXPECT_TRUE(net.endpoints[1].failures.empty());
  });
}

TEST(DtlsTransport, DataLargerThanARecordIsSplit) {
  Network net;
  net.pair();
  net.startBoth(Role::Server);
  ASSERT_TRUE(net.waitConnected());
  Bytes big = pattern(40000, 3);
  net.loop.invoke([&] { ASSERT_TRUE(net.t(0).send(big)); });
  ASSERT_TRUE(net.waitFor([&] {
    std::size_t total = 0;
    for (auto& m : net.endpoints[1].received) total += m.size();
    return total == big.size();
  }));
  net.loop.invoke([&] {
    Bytes joined;
    for (auto& m : net.endpoints[1].received) joined.insert(joined.end(), m.begin(), m.end());
    EXPECT_EQ(joined, big);
    EXPECT_EQ(net.endpoints[1].received.size(), 3u);
  });
}

TEST(DtlsTransport, ExportedKeyingMaterialMatches) {
  Network net;
  net.pair();
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    std::string a = net.t(0).exportKeyingMaterial("EXTRACTOR-dtls_srtp", 60);
    std::string b = net.t(1).exportKeyingMaterial("EXTRACTOR-dtls_srtp", 60);
    EXPECT_EQ(a.size(), 60u);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, std::string(60, '\0'));
    EXPECT_NE(net.t(0).exportKeyingMaterial("other label", 60), a);
  });
}

// Both ends agree on the first SRTP profile we offer, and the SRTP sessions keyed from each
// end's exported material understand each other: what one protects, the other unprotects.
TEST(DtlsTransport, AgreesOnAnSrtpProfileWhoseKeysBothEndsShare) {
  Network net;
  net.pair();
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    auto profile = net.t(0).srtpProfile();
    ASSERT_TRUE(profile);
    EXPECT_EQ(*profile, SrtpProfile::AeadAes128Gcm);
    EXPECT_EQ(net.t(1).srtpProfile(), profile);
    std::vector<std::unique_ptr<SrtpSession>> sessions;
    for (int i = 0; i < 2; ++i) {
      auto material =
          net.t(i).exportKeyingMaterial("EXTRACTOR-dtls_srtp", srtpKeyingMaterialLength(*profile));
      std::string error;
      sessions.push_back(SrtpSession::fromDtls(
          *profile,
          std::span(reinterpret_cast<const std::uint8_t*>(material.data()), material.size()),
          net.t(i).role() == Role::Client, &error));
      ASSERT_TRUE(sessions.back()) << error;
    }
    const std::vector<std::uint8_t> plain = {0x80, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 'v', 'p', '8'};
    for (int from = 0; from < 2; ++from) {
      auto packet = plain;
      ASSERT_EQ(sessions[from]->protectRtp(packet), SrtpSession::Error::None);
      EXPECT_NE(packet, plain);
      ASSERT_EQ(sessions[1 - from]->unprotectRtp(packet), SrtpSession::Error::None);
      EXPECT_EQ(packet, plain);
    }
  });
}

// ---- Authentication ----

void expectMismatch(Role checkingRole) {
  Network net;
  net.add(0, 1);
  net.add(1, 0);
  auto stranger = Certificate::generate();
  net.loop.invoke([&] {
    net.t(0).setRemoteFingerprint("sha-256", stranger->fingerprint());  // wrong
    net.t(1).setRemoteFingerprint("sha-256", net.endpoints[0].certificate->fingerprint());
  });
  net.startBoth(checkingRole);
  ASSERT_TRUE(net.waitFor([&] {
    auto& other = net.endpoints[1];
    return !net.endpoints[0].failures.empty() && (!other.failures.empty() || other.closed > 0);
  }));
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[0].connected, 0);
    EXPECT_EQ(net.t(0).state(), State::Failed);
    EXPECT_NE(net.endpoints[0].failures[0].find("DTLS fingerprint mismatch"), std::string::npos)
        << net.endpoints[0].failures[0];
    EXPECT_NE(net.endpoints[0].failures[0].find(stranger->fingerprint()), std::string::npos);
    EXPECT_EQ(net.endpoints[1].connected, 0);
    if (!net.endpoints[1].failures.empty()) {
      std::printf("[          ] peer: %s\n", net.endpoints[1].failures[0].c_str());
    }
  });
}

TEST(DtlsTransport, FingerprintMismatchSeenByClient) { expectMismatch(Role::Client); }

TEST(DtlsTransport, FingerprintMismatchSeenByServer) { expectMismatch(Role::Server); }

TEST(DtlsTransport, FingerprintIsCaseInsensitive) {
  Network net;
  net.add(0, 1);
  net.add(1, 0);
  net.loop.invoke([&] {
    std::string lower = net.endpoints[1].certificate->fingerprint();
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    net.t(0).setRemoteFingerprint("SHA-256", lower);
    net.t(1).setRemoteFingerprint("sha-256", net.endpoints[0].certificate->fingerprint());
  });
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
}

TEST(DtlsTransport, UnsupportedFingerprintAlgorithmFails) {
  Network net;
  net.pair();
  net.loop.invoke([&] { net.t(1).setRemoteFingerprint("sha-1", "AB:CD"); });
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitFor([&] { return !net.endpoints[1].failures.empty(); }));
  net.loop.invoke([&] {
    EXPECT_NE(net.endpoints[1].failures[0].find("sha-1"), std::string::npos)
        << net.endpoints[1].failures[0];
    EXPECT_EQ(net.endpoints[1].connected, 0);
  });
}

TEST(DtlsTransport, FingerprintArrivingAfterTheHandshake) {
  Network net;
  net.add(0, 1);
  net.add(1, 0);
  // Endpoint 1 learns the fingerprint late; endpoint 0 sends data as soon as it is connected.
  net.onConnected = [&](int index) {
    if (index == 0) net.t(0).send(pattern(100, 9));
  };
  net.loop.invoke([&] {
    net.t(0).setRemoteFingerprint("sha-256", net.endpoints[1].certificate->fingerprint());
  });
  net.startBoth(Role::Server);
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[0].connected == 1; }));
  net.settle();
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[1].connected, 0);
    EXPECT_TRUE(net.endpoints[1].received.empty());  // nothing before authentication
    EXPECT_EQ(net.t(1).state(), State::Connecting);
    net.t(1).setRemoteFingerprint("sha-256", net.endpoints[0].certificate->fingerprint());
    EXPECT_EQ(net.t(1).state(), State::Connected);
  });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[1].received.size() == 1; }));
  net.loop.invoke([&] { EXPECT_EQ(net.endpoints[1].received[0], pattern(100, 9)); });
}

TEST(DtlsTransport, LateWrongFingerprintFailsAndClosesPeer) {
  Network net;
  net.add(0, 1);
  net.add(1, 0);
  net.loop.invoke([&] {
    net.t(0).setRemoteFingerprint("sha-256", net.endpoints[1].certificate->fingerprint());
  });
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[0].connected == 1; }));
  net.settle();
  net.loop.invoke([&] {
    net.t(1).setRemoteFingerprint("sha-256", Certificate::generate()->fingerprint());
    EXPECT_EQ(net.t(1).state(), State::Failed);
  });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[0].closed == 1; }));
  net.loop.invoke([&] {
    ASSERT_EQ(net.endpoints[1].failures.size(), 1u);
    EXPECT_NE(net.endpoints[1].failures[0].find("fingerprint mismatch"), std::string::npos);
  });
}

// ---- Closing ----

TEST(DtlsTransport, CloseNotifiesThePeer) {
  Network net;
  net.pair();
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    net.t(0).close();
    EXPECT_EQ(net.t(0).state(), State::Closed);
    EXPECT_FALSE(net.t(0).send(pattern(10, 1)));
    net.t(0).close();  // idempotent
  });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[1].closed == 1; }));
  net.loop.invoke([&] {
    EXPECT_EQ(net.t(1).state(), State::Closed);
    EXPECT_FALSE(net.t(1).send(pattern(10, 1)));
    EXPECT_EQ(net.endpoints[0].closed, 0);  // no callback for a local close
    EXPECT_TRUE(net.endpoints[0].failures.empty());
    EXPECT_TRUE(net.endpoints[1].failures.empty());
    // Records after the close are ignored, on both sides.
    for (const Bytes& d : net.endpoints[1].sent) net.t(0).receive(d);
    for (const Bytes& d : net.endpoints[0].sent) net.t(1).receive(d);
  });
  net.settle();
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[1].closed, 1);
    EXPECT_TRUE(net.endpoints[0].received.empty());
    EXPECT_TRUE(net.endpoints[1].received.empty());
  });
}

TEST(DtlsTransport, CloseDuringHandshakeStopsQuietly) {
  Network net;
  net.pair();
  net.loop.invoke([&] {
    net.t(0).start(Role::Client);
    net.t(1).start(Role::Server);
    net.t(0).close();  // before the server's answer can arrive
  });
  net.settle(600ms);  // past the first retransmission timeout
  net.loop.invoke([&] {
    EXPECT_EQ(net.t(0).state(), State::Closed);
    EXPECT_EQ(net.endpoints[0].connected, 0);
    EXPECT_TRUE(net.endpoints[0].failures.empty());
    EXPECT_EQ(net.endpoints[0].sent.size(), 1u);  // the ClientHello only, no retransmission
  });
}

// ---- Loss and hostile input ----

TEST(DtlsTransport, RecoversWhenTheFirstTwoFlightsAreLost) {
  Network net;
  net.pair();
  bool droppedHello = false;
  bool droppingServerFlight = true;
  net.mangle = [&](int from, const Bytes& d) -> std::vector<Bytes> {
    if (from == 0 && !droppedHello) {  // the first ClientHello
      droppedHello = true;
      return {};
    }
    // The server's whole first flight (ServerHello ... ServerHelloDone), however it is packed.
    if (from == 1 && droppingServerFlight) {
      if (containsHandshakeMessage(d, kServerHelloDone)) droppingServerFlight = false;
      return {};
    }
    return {d};
  };
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected(3000ms));
  net.loop.invoke([&] {
    std::int64_t done = std::max(net.endpoints[0].connectedAtMs, net.endpoints[1].connectedAtMs);
    std::printf("[          ] handshake with 2 lost flights took %lld ms\n",
                static_cast<long long>(done - net.startMs));
    EXPECT_FALSE(droppingServerFlight);
    // ClientHello retransmitted after 400 ms, the server's flight 400 ms later.
    EXPECT_LT(done - net.startMs, 1100);
  });
}

TEST(DtlsTransport, RecoversWhenTheLastFlightIsLost) {
  // The side that finishes first (the server) loses its ChangeCipherSpec/Finished flight and the
  // data that follows it; the client's retransmission makes it send the flight again.
  Network net;
  net.pair();
  bool dropping = true;
  net.mangle = [&](int from, const Bytes& d) -> std::vector<Bytes> {
    if (from == 1 && dropping && d[0] == 20) {  // starts with ChangeCipherSpec
      dropping = false;
      return {};
    }
    return {d};
  };
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[1].connected == 1; }));
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[0].connected, 0);
    EXPECT_FALSE(dropping);
  });
  ASSERT_TRUE(net.waitConnected(3000ms));
  net.loop.invoke([&] { ASSERT_TRUE(net.t(1).send(pattern(64, 1))); });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[0].received.size() == 1; }));
}

TEST(DtlsTransport, RecoversFromRandomLossDuringTheHandshake) {
  // Several seeded runs side by side (each has its own loop), so the retransmission waits
  // overlap instead of adding up.
  constexpr int kRuns = 8;
  std::vector<std::unique_ptr<std::mt19937>> rngs;
  std::vector<int> dropped(kRuns, 0);
  std::vector<std::unique_ptr<Network>> nets;  // last: stopped before what it uses is gone
  for (int run = 0; run < kRuns; ++run) {
    nets.push_back(std::make_unique<Network>());
    rngs.push_back(std::make_unique<std::mt19937>(run + 1));
    Network& net = *nets.back();
    std::mt19937& rng = *rngs.back();
    net.pair();
    net.mangle = [&net, &rng, &dropped, run](int, const Bytes& d) -> std::vector<Bytes> {
      bool handshaking = net.endpoints[0].connected == 0 || net.endpoints[1].connected == 0;
      if (handshaking && rng() % 5 == 0) {
        dropped[run]++;
        return {};
      }
      return {d};
    };
    net.startBoth(run % 2 ? Role::Client : Role::Server);
  }
  int totalDropped = 0;
  for (int run = 0; run < kRuns; ++run) {
    Network& net = *nets[run];
    ASSERT_TRUE(net.waitConnected(6000ms)) << "run " << run;
    net.loop.invoke([&] {
      std::int64_t done = std::max(net.endpoints[0].connectedAtMs, net.endpoints[1].connectedAtMs);
      std::printf("[          ] run %d: %d datagrams lost, handshake took %lld ms\n", run,
                  dropped[run], static_cast<long long>(done - net.startMs));
      totalDropped += dropped[run];
      ASSERT_TRUE(net.t(0).send(pattern(500, 5)));
    });
    ASSERT_TRUE(net.waitFor([&] { return net.endpoints[1].received.size() == 1; }));
  }
  EXPECT_GT(totalDropped, 0);
}

TEST(DtlsTransport, IgnoresGarbageTruncatedAndReplayedDatagrams) {
  Network net;
  net.pair();
  std::mt19937 rng(42);
  // Before start: garbage that the server must keep and then survive.
  net.loop.invoke([&] {
    for (int i = 0; i < 4; ++i) {
      net.t(0).receive(randomDatagram(rng, 1 + rng() % 300));
      net.t(1).receive(randomDatagram(rng, 1 + rng() % 300));
    }
  });
  // Every datagram is preceded by garbage and a truncated copy of itself, and followed by a
  // corrupted copy and a replay.
  net.mangle = [&](int, const Bytes& d) -> std::vector<Bytes> {
    std::vector<Bytes> out;
    out.push_back(randomDatagram(rng, 1 + rng() % 200));
    if (d.size() > 2) out.emplace_back(d.begin(), d.begin() + static_cast<long>(d.size() / 2));
    out.push_back(d);
    Bytes corrupted = d;
    corrupted[corrupted.size() - 1] ^= 0x5a;
    out.push_back(corrupted);
    out.push_back(d);
    return out;
  };
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(net.t(0).send(pattern(100 + i, i)));
      ASSERT_TRUE(net.t(1).send(pattern(200 + i, i)));
    }
  });
  ASSERT_TRUE(net.waitFor([&] {
    return net.endpoints[0].received.size() >= 20 && net.endpoints[1].received.size() >= 20;
  }));
  net.settle();
  net.loop.invoke([&] {
    ASSERT_EQ(net.endpoints[1].received.size(), 20u);  // replays dropped
    ASSERT_EQ(net.endpoints[0].received.size(), 20u);
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(net.endpoints[1].received[i], pattern(100 + i, i));
      EXPECT_EQ(net.endpoints[0].received[i], pattern(200 + i, i));
    }
    EXPECT_TRUE(net.endpoints[0].failures.empty());
    EXPECT_TRUE(net.endpoints[1].failures.empty());
    EXPECT_EQ(net.t(0).state(), State::Connected);
    EXPECT_EQ(net.t(1).state(), State::Connected);
  });
}

TEST(DtlsTransport, DatagramsBeforeStartAreKept) {
  Network net;
  net.pair();
  // Only the client starts; the server sees its ClientHello before its own start().
  net.loop.invoke([&] { net.t(0).start(Role::Client); });
  ASSERT_TRUE(net.waitFor([&] { return !net.endpoints[0].sent.empty(); }));
  net.settle(20ms);
  net.loop.invoke([&] {
    EXPECT_EQ(net.t(1).state(), State::New);
    EXPECT_TRUE(net.endpoints[1].sent.empty());
    net.startMs = trystero::loop::nowMs();
    net.t(1).start(Role::Server);
  });
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] {
    // Served from the buffer right away, not from the client's retransmission.
    EXPECT_LT(net.endpoints[1].connectedAtMs - net.startMs, 300);
  });
}

void expectStrangerIgnored(int victim) {
  Network net;
  net.pair();
  net.startBoth(Role::Server);  // endpoint 0 is the server
  ASSERT_TRUE(net.waitConnected());
  // A third transport whose datagrams reach the victim mid-session; answers go to the real peer.
  net.add(2, victim);
  net.loop.invoke([&] {
    net.t(2).setRemoteFingerprint("sha-256", net.endpoints[victim].certificate->fingerprint());
    net.t(2).start(Role::Client);
  });
  ASSERT_TRUE(net.waitFor([&] { return !net.endpoints[2].sent.empty(); }));
  net.settle(30ms);
  net.loop.invoke([&] {
    // Replays of the stranger's hello, and one of each of the real peer's handshake datagrams.
    for (int i = 0; i < 3; ++i) net.t(victim).receive(net.endpoints[2].sent[0]);
    for (const Bytes& d : net.endpoints[1 - victim].sent) {
      if (isHandshakeRecord(d)) net.t(victim).receive(d);
    }
    ASSERT_TRUE(net.t(0).send(pattern(300, 1)));
    ASSERT_TRUE(net.t(1).send(pattern(301, 2)));
  });
  ASSERT_TRUE(net.waitFor([&] {
    return net.endpoints[0].received.size() == 1 && net.endpoints[1].received.size() == 1;
  }));
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[1].received[0], pattern(300, 1));
    EXPECT_EQ(net.endpoints[0].received[0], pattern(301, 2));
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(net.t(i).state(), State::Connected);
      EXPECT_TRUE(net.endpoints[i].failures.empty());
      EXPECT_EQ(net.endpoints[i].closed, 0);
    }
    EXPECT_EQ(net.endpoints[2].connected, 0);
  });
}

TEST(DtlsTransport, StrangerHelloDoesNotBreakTheServer) { expectStrangerIgnored(0); }

TEST(DtlsTransport, StrangerHelloDoesNotBreakTheClient) { expectStrangerIgnored(1); }

// ---- Re-entrancy ----

TEST(DtlsTransport, SynchronousWiringIsReentrancySafe) {
  Network net;
  net.synchronous = true;  // sendDatagram delivers to the peer before returning
  net.pair();
  // Each side echoes what it receives once, from inside onData.
  net.onData = [&](int index) {
    Bytes last = net.endpoints[index].received.back();
    if (last.size() < 2000) {
      last.resize(last.size() + 1000, 0x11);
      EXPECT_TRUE(net.t(index).send(last));
    }
  };
  net.startBoth(Role::Client);
  ASSERT_TRUE(net.waitConnected());
  net.loop.invoke([&] { ASSERT_TRUE(net.t(0).send(pattern(10, 1))); });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[0].received.size() == 1; }));
  net.loop.invoke([&] {
    EXPECT_EQ(net.endpoints[1].received.size(), 2u);
    EXPECT_EQ(net.endpoints[0].received[0].size(), 1010u);
    EXPECT_EQ(net.endpoints[1].received[1].size(), 2010u);
    net.t(0).close();
  });
  ASSERT_TRUE(net.waitFor([&] { return net.endpoints[1].closed == 1; }));
}

TEST(DtlsTransport, DestroyedFromItsOwnCallbacks) {
  {
    // From onData.
    Network net;
    net.pair();
    net.onData = [&](int index) {
      if (index == 1) net.endpoints[1].transport.reset();
    };
    net.startBoth(Role::Client);
    ASSERT_TRUE(net.waitConnected());
    net.loop.invoke([&] {
      for (int i = 0; i < 5; ++i) net.t(0).send(pattern(50, i));
    });
    ASSERT_TRUE(net.waitFor([&] { return !net.endpoints[1].transport; }));
    net.settle();
    net.loop.invoke([&] { EXPECT_EQ(net.endpoints[1].received.size(), 1u); });
  }
  {
    // From sendDatagram, in the middle of the handshake and of SSL_write.
    Network net;
    net.pair();
    bool destroyNext = false;
    net.mangle = [&](int from, const Bytes& d) -> std::vector<Bytes> {
      if (from == 1 && destroyNext) {
        net.endpoints[1].transport.reset();
        destroyNext = false;
      }
      return {d};
    };
    net.startBoth(Role::Client);
    ASSERT_TRUE(net.waitConnected());
    net.loop.invoke([&] {
      destroyNext = true;
      net.t(1).send(pattern(20000, 1));  // two records: destroyed after the first
    });
    net.settle();
    net.loop.invoke([&] {
      EXPECT_FALSE(net.endpoints[1].transport);
      EXPECT_EQ(net.endpoints[0].received.size(), 1u);
    });
  }
  {
    // During the handshake with a retransmission timer pending.
    Network net;
    net.pair();
    net.mangle = [&](int from, const Bytes& d) -> std::vector<Bytes> {
      if (from == 0) return {d};
      net.endpoints[1].transport.reset();  // the server, while it sends its first flight
      return {};
    };
    net.startBoth(Role::Client);
    net.settle(500ms);
    net.loop.invoke([&] {
      EXPECT_FALSE(net.endpoints[1].transport);
      EXPECT_EQ(net.t(0).state(), State::Connecting);
    });
  }
}

}  // namespace
