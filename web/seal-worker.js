// Cipherdrop's sealing worker: AES-256-GCM frames sealed and opened with WebCrypto on this
// worker's thread, so the page's thread stays free and several workers use several cores.
// The page sends each frame key once as a non-extractable CryptoKey (structured-cloned: its
// bytes never become readable to script), then frames as transferred buffers. Every reply
// transfers its result back. Nothing is stored; a key is forgotten when the page says so.
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
    const out = m.op === 'seal'
      ? await crypto.subtle.encrypt(params, key, m.data)
      : await crypto.subtle.decrypt(params, key, m.data);
    postMessage({ id: m.id, out }, [out]);
  } catch (e) {
    postMessage({ id: m.id, error: (e && e.name) ? String(e.name) : String(e) });
  }
};
