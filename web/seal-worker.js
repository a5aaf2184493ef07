// Cipherdrop's sealing worker: AES-256-GCM frames sealed and opened with WebCrypto on this
// worker's thread, so the page's thread stays free and several workers use several cores.
// The page sends each frame key once as a non-extractable CryptoKey (structured-cloned: its
// bytes never become readable to script), then frames in transferred buffers. A sealed frame
// that fits its input buffer exactly is copied back into it, so the page reuses its buffers
// and allocates nothing per frame; otherwise the result comes back with the input buffer for
// reuse. Nothing is stored; a key is forgotten when the page says so.
'use strict';
const keys = new Map();
onmessage = async (event) => {
  const m = event.data;
  if (m.op === 'ping') { postMessage({ id: m.id, out: null }); return; }
  if (m.op === 'key') { keys.set(m.kid, m.key); return; }
  if (m.op === 'forget') { keys.delete(m.kid); return; }
  try {
    const key = keys.get(m.kid);
    if (!key) throw new Error('unknown key');
    const params = { name: 'AES-GCM', iv: m.iv, additionalData: m.aad, tagLength: 128 };
    const input = m.data;
    const out = m.op === 'seal'
      ? await crypto.subtle.encrypt(params, key, input)
      : await crypto.subtle.decrypt(params, key, input);
    const buf = input.buffer;
    if (out.byteLength === buf.byteLength && input.byteOffset === 0) {
      new Uint8Array(buf).set(new Uint8Array(out));
      postMessage({ id: m.id, out: buf }, [buf]);
    } else {
      postMessage({ id: m.id, out, back: buf }, [out, buf]);
    }
  } catch (e) {
    postMessage({ id: m.id, error: (e && e.name) ? String(e.name) : String(e) });
  }
};
