// Interop: the native WebRTC transport (pc_peer, see PROTOCOL.md) against Debian's
// Chromium, both roles. Run with tests/interop/run.sh [BUILD_DIR], or directly:
//   PC_PEER=build/tests/pc_peer node --test tests/interop/rtc_chromium.test.mjs
//   PC_PEER="node tests/interop/tools/fake_native_peer.mjs" node --test tests/interop/rtc_chromium.test.mjs
import { defineRtcSuite } from './lib/rtc_suite.mjs';

defineRtcSuite({ browser: 'chromium' });
