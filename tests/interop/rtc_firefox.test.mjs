// Interop: the native WebRTC transport (pc_peer, see PROTOCOL.md) against Debian's
// firefox-esr, driven over WebDriver BiDi by playwright-core's "moz-firefox" channel
// (stock Firefox; playwright's own patched Firefox build is not needed). Both roles.
// Skipped when /usr/bin/firefox-esr (or $FIREFOX) is not installed.
import { test } from 'node:test';
import fs from 'node:fs';
import { FIREFOX_PATH } from './lib/browser.mjs';
import { defineRtcSuite } from './lib/rtc_suite.mjs';

if (fs.existsSync(FIREFOX_PATH)) {
  defineRtcSuite({ browser: 'firefox' });
} else {
  test('firefox interop', { skip: `${FIREFOX_PATH} not installed (apt-get install firefox-esr)` }, () => {});
}
