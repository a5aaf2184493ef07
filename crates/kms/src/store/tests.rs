//! The key store's unit tests: what reaches the files, sealed or not, and how records load.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::master::MASTER_KEY_FILE;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every form a backing key could be written in: raw, base64, hex.
fn forms(key: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key.to_vec(),
        B64.encode(key).into_bytes(),
        hex::encode(key).into_bytes(),
        hex::encode_upper(key).into_bytes(),
    ]
}

fn record(id: Uuid, keys: &[[u8; 32]]) -> KeyRecord {
    KeyRecord {
        id,
        description: "test".into(),
        created: 1.5,
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        rotation_enabled: false,
        rotation_period_days: 365,
        next_rotation: None,
        tags: vec![("team".into(), "a".into())],
        materials: keys
            .iter()
            .zip(1..)
            .map(|(k, version)| Material {
                version,
                created: 2.5,
                rotation_type: (version > 1).then(|| "ON_DEMAND".to_owned()),
                key: Zeroizing::new(*k),
            })
            .collect(),
        key_spec: KeySpec::SymmetricDefault,
        private_key: None,
        origin: Origin::AwsKms,
        import: None,
        multi_region: None,
    }
}

fn signing_record(id: Uuid) -> KeyRecord {
    KeyRecord {
        materials: Vec::new(),
        key_spec: KeySpec::EccNistP384,
        private_key: Some(PrivateKey::generate()),
        ..record(id, &[])
    }
}

fn key_file(dir: &Path, id: Uuid) -> PathBuf {
    dir.join("keys").join(format!("{id}.json"))
}

fn open(dir: &Path) -> std::io::Result<(Disk, Loaded)> {
    Disk::open(dir, &dir.join(MASTER_KEY_FILE))
}

#[test]
fn backing_keys_reach_the_file_only_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, (keys, _)) = open(dir.path()).unwrap();
    assert!(keys.is_empty());
    let id = Uuid::new_v4();
    let materials = [*fresh_key(), *fresh_key()];
    let rec = record(id, &materials);
    disk.save_key(&rec).unwrap();
    let first = std::fs::read(key_file(dir.path(), id)).unwrap();
    for m in &materials {
        for form in forms(m) {
            assert!(!contains(&first, &form), "a backing key is in the file");
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&first).unwrap();
    for m in json["materials"].as_array().unwrap() {
        assert!(m.get("key").is_none(), "{m}");
        assert_eq!(m["sealed_key"].as_str().unwrap().len(), 80, "{m}");
    }
    // Each write seals under fresh nonces.
    disk.save_key(&rec).unwrap();
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(key_file(dir.path(), id)).unwrap()).unwrap();
    assert_ne!(
        json["materials"][0]["sealed_key"],
        second["materials"][0]["sealed_key"]
    );
    // Read back: the same backing keys.
    drop(disk);
    let (_, (keys, _)) = open(dir.path()).unwrap();
    let back = &keys[&id];
    assert_eq!(back.materials.len(), 2);
    for (m, k) in back.materials.iter().zip(&materials) {
        assert_eq!(*m.key, *k);
    }
    assert_eq!(back.tags, rec.tags);
}

/// A key file exactly as the code before the master key wrote it.
fn old_format(id: Uuid, k1: &[u8; 32], k2: &[u8; 32]) -> String {
    format!(
        r#"{{"id":"{id}","description":"old key","created":1700000000.5,"state":"Disabled","deletion_date":null,"pending_window_days":null,"rotation_enabled":true,"rotation_period_days":90,"next_rotation":1707776000.5,"tags":[["team","a"],["env","prod"]],"materials":[{{"version":1,"created":1700000000.5,"rotation_type":null,"key":"{}"}},{{"version":2,"created":1700000100.25,"rotation_type":"ON_DEMAND","key":"{}"}}]}}"#,
        B64.encode(k1),
        B64.encode(k2)
    )
}

/// The file's JSON without the backing keys (plain or sealed).
fn without_keys(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    for m in v["materials"].as_array_mut().unwrap() {
        let m = m.as_object_mut().unwrap();
        m.remove("key");
        m.remove("sealed_key");
    }
    v
}

#[test]
fn old_plaintext_key_files_are_rewritten_sealed_and_otherwise_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    let id = Uuid::new_v4();
    let (k1, k2) = (*fresh_key(), *fresh_key());
    let old = old_format(id, &k1, &k2);
    std::fs::write(key_file(dir.path(), id), &old).unwrap();

    let (_, (keys, _)) = open(dir.path()).unwrap();
    let rec = &keys[&id];
    assert_eq!((*rec.materials[0].key, *rec.materials[1].key), (k1, k2));
    assert_eq!(rec.state, KeyState::Disabled);
    assert_eq!(
        rec.key_spec,
        KeySpec::SymmetricDefault,
        "no spec: symmetric"
    );
    assert!(rec.private_key.is_none());
    let new = std::fs::read(key_file(dir.path(), id)).unwrap();
    for form in forms(&k1).into_iter().chain(forms(&k2)) {
        assert!(!contains(&new, &form), "a backing key is still in the file");
    }
    assert_eq!(without_keys(&new), without_keys(old.as_bytes()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [key_file(dir.path(), id), dir.path().join(MASTER_KEY_FILE)] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
    }
    // Sealed now, and opened as such.
    let (_, (keys, _)) = open(dir.path()).unwrap();
    assert_eq!(*keys[&id].materials[1].key, k2);
    assert_eq!(std::fs::read(key_file(dir.path(), id)).unwrap(), new);
}

#[test]
fn private_keys_reach_the_file_only_sealed_and_symmetric_files_name_no_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, _) = open(dir.path()).unwrap();
    let (sym, ecc, ecc2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    disk.save_key(&record(sym, &[*fresh_key()])).unwrap();
    let rec = signing_record(ecc);
    let scalar = rec.private_key.as_ref().unwrap().scalar();
    let public = rec.private_key.as_ref().unwrap().public_key_der();
    disk.save_key(&rec).unwrap();
    disk.save_key(&signing_record(ecc2)).unwrap();
    drop(disk);

    let read = |id| std::fs::read(key_file(dir.path(), id)).unwrap();
    let json = |id| -> serde_json::Value { serde_json::from_slice(&read(id)).unwrap() };
    // A symmetric key's file is as it always was: no spec, no private key.
    let s = json(sym);
    assert!(
        s.get("key_spec").is_none() && s.get("sealed_private_key").is_none(),
        "{s}"
    );
    let e = json(ecc);
    assert_eq!(e["key_spec"], "ECC_NIST_P384");
    assert_eq!(e["materials"], serde_json::json!([]));
    // nonce 12 + scalar 48 + tag 16 = 76 bytes, 104 in base64.
    assert_eq!(e["sealed_private_key"].as_str().unwrap().len(), 104, "{e}");
    for form in forms(&scalar[..]) {
        assert!(
            !contains(&read(ecc), &form),
            "the private key is in the file"
        );
    }

    // Read back: the same private key.
    let (_, (keys, _)) = open(dir.path()).unwrap();
    let back = &keys[&ecc];
    assert_eq!(back.key_spec, KeySpec::EccNistP384);
    assert_eq!(*back.private_key.as_ref().unwrap().scalar(), *scalar);
    assert_eq!(back.private_key.as_ref().unwrap().public_key_der(), public);
    assert!(keys[&sym].private_key.is_none());

    let write = |id, v: &serde_json::Value| {
        std::fs::write(key_file(dir.path(), id), v.to_string()).unwrap();
    };
    // Another key's sealed private key does not open under this key's id.
    let mut moved = e.clone();
    moved["sealed_private_key"] = json(ecc2)["sealed_private_key"].clone();
    write(ecc, &moved);
    let err = open(dir.path()).err().unwrap();
    assert!(err.to_string().contains(&ecc.to_string()), "{err}");
    // A signing key without its private key, or with backing keys, does not load; nor a
    // symmetric key with a private key; nor a signing key's file relabelled symmetric.
    let mut bare = e.clone();
    bare.as_object_mut().unwrap().remove("sealed_private_key");
    let mut with_backing = e.clone();
    with_backing["materials"] = s["materials"].clone();
    let mut sym_with_private = s.clone();
    sym_with_private["sealed_private_key"] = e["sealed_private_key"].clone();
    let mut relabelled = e.clone();
    relabelled.as_object_mut().unwrap().remove("key_spec");
    for (id, bad) in [
        (ecc, &bare),
        (ecc, &with_backing),
        (sym, &sym_with_private),
        (ecc, &relabelled),
    ] {
        let (good_sym, good_ecc) = (s.clone(), e.clone());
        write(sym, &good_sym);
        write(ecc, &good_ecc);
        write(id, bad);
        let err = open(dir.path()).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{bad}");
    }
    write(sym, &s);
    write(ecc, &e);

    // Sealed private keys alone need the master key: without it, nothing opens or is made.
    std::fs::remove_file(key_file(dir.path(), sym)).unwrap();
    let master = dir.path().join(MASTER_KEY_FILE);
    let right = std::fs::read(&master).unwrap();
    std::fs::remove_file(&master).unwrap();
    assert_eq!(
        open(dir.path()).err().unwrap().kind(),
        std::io::ErrorKind::NotFound
    );
    assert!(!master.exists());
    std::fs::write(&master, right).unwrap();
    let (_, (keys, _)) = open(dir.path()).unwrap();
    assert_eq!(keys.len(), 2);
}

#[test]
fn a_missing_or_wrong_master_key_refuses_to_open_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join(MASTER_KEY_FILE);
    let id = Uuid::new_v4();
    let (disk, _) = open(dir.path()).unwrap();
    disk.save_key(&record(id, &[*fresh_key()])).unwrap();
    drop(disk);
    let file = std::fs::read(key_file(dir.path(), id)).unwrap();
    let right = std::fs::read(&master).unwrap();

    std::fs::remove_file(&master).unwrap();
    let e = open(dir.path()).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let text = e.to_string();
    assert!(
        text.contains(&master.display().to_string()) && text.contains("restore"),
        "{text}"
    );
    assert!(!master.exists(), "no new master key is made");

    std::fs::write(&master, B64.encode(*fresh_key())).unwrap();
    let e = open(dir.path()).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("another master key"), "{e}");

    // Nothing was rewritten; the right master key opens it again.
    assert_eq!(std::fs::read(key_file(dir.path(), id)).unwrap(), file);
    std::fs::write(&master, &right).unwrap();
    let (_, (keys, _)) = open(dir.path()).unwrap();
    assert!(keys.contains_key(&id));
}

#[test]
fn sealed_backing_keys_cannot_be_moved_between_keys_or_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (disk, _) = open(dir.path()).unwrap();
    disk.save_key(&record(a, &[*fresh_key(), *fresh_key()]))
        .unwrap();
    disk.save_key(&record(b, &[*fresh_key(), *fresh_key()]))
        .unwrap();
    drop(disk);
    let read = |id| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(key_file(dir.path(), id)).unwrap()).unwrap()
    };
    let (file_a, file_b) = (read(a), read(b));
    let write = |id, v: &serde_json::Value| {
        std::fs::write(key_file(dir.path(), id), v.to_string()).unwrap();
    };

    // A's sealed backing key in B's file.
    let mut swapped = file_b.clone();
    swapped["materials"][0]["sealed_key"] = file_a["materials"][0]["sealed_key"].clone();
    write(b, &swapped);
    let e = open(dir.path()).err().unwrap();
    assert!(e.to_string().contains(&b.to_string()), "{e}");
    // Versions 1 and 2 of B exchanged.
    let mut swapped = file_b.clone();
    swapped["materials"][0]["sealed_key"] = file_b["materials"][1]["sealed_key"].clone();
    swapped["materials"][1]["sealed_key"] = file_b["materials"][0]["sealed_key"].clone();
    write(b, &swapped);
    assert!(open(dir.path()).is_err());
    // A's whole file under B's name and id.
    let mut moved = file_a.clone();
    moved["id"] = serde_json::Value::String(b.to_string());
    write(b, &moved);
    assert!(open(dir.path()).is_err());

    write(b, &file_b);
    let (_, (keys, _)) = open(dir.path()).unwrap();
    assert_eq!(keys.len(), 2);
}

#[test]
fn key_ids_are_written_and_read_in_one_form_each() {
    let single = Uuid::new_v4();
    let mrk = new_mrk_id();
    assert!(is_mrk(mrk) && !is_mrk(single));
    let text = key_id_text(mrk);
    assert!(text.starts_with("mrk-") && text.len() == 36, "{text}");
    assert_eq!(parse_key_id(&text), Some(mrk));
    assert_eq!(parse_key_id(&key_id_text(single)), Some(single));
    // A multi-Region key's UUID in the single-Region form, a single-Region key's in the mrk
    // form, and near misses: none names a key.
    for bad in [
        mrk.to_string(),
        format!("mrk-{}", single.simple()),
        single.simple().to_string(),
        format!("mrk-{}", &mrk.simple().to_string()[1..]),
        format!("mrk-{}0", mrk.simple()),
        format!("mrk-{}", mrk.simple()).replace('a', "g"),
        format!("{{{single}}}"),
        String::new(),
        "mrk-".into(),
    ] {
        if bad == text {
            continue;
        }
        assert_eq!(parse_key_id(&bad), None, "{bad}");
    }
}
