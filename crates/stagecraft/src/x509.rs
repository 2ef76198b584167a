//! Certificates of a local CA: an ECDSA P-256 key (ring, which rustls
//! already brings) and the few X.509 structures a CA and a TLS server
//! certificate need, encoded in DER by hand. `rcgen` would do it too, but
//! it brings 30 packages into Cargo.lock (x509-parser through a weak
//! feature), and every `cargo xtask` resolves the whole lock: the everyday
//! benchmark measured it (docs/benchmarks.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

use crate::sha::Sha256;

/// A key and its certificate, in PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: SystemTime,
}

/// A CA that signs server certificates.
pub struct Authority {
    key: EcdsaKeyPair,
    name: String,
}

impl Authority {
    /// A new CA named `name`, valid for ten years: its certificate and its
    /// key (PKCS#8), in PEM.
    pub fn generate(name: &str) -> Result<(Authority, Issued)> {
        let (key, key_pem) = new_key()?;
        let authority = Authority {
            key,
            name: name.to_owned(),
        };
        let now = SystemTime::now();
        let not_after = now + Duration::from_secs(3650 * 86_400);
        let public = authority.key.public_key().as_ref().to_vec();
        let extensions = [
            extension(BASIC_CONSTRAINTS, true, &seq(&boolean(true))),
            // keyCertSign and cRLSign (bits 5 and 6), digitalSignature (0).
            extension(KEY_USAGE, true, &bit_string_bits(&[0, 5, 6])),
            extension(SUBJECT_KEY_ID, false, &octets(&key_id(&public))),
        ]
        .concat();
        let cert = authority.sign_for(name, &public, now, not_after, &extensions)?;
        let issued = Issued {
            cert_pem: pem("CERTIFICATE", &cert),
            key_pem,
            not_after,
        };
        Ok((authority, issued))
    }

    /// The CA of `key_pem` (as `generate` wrote it) named `name`.
    pub fn load(name: &str, key_pem: &str) -> Result<Authority> {
        let der = unpem("PRIVATE KEY", key_pem)?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &SystemRandom::new())
                .map_err(|e| anyhow!("the CA key is not an ECDSA P-256 PKCS#8 key: {e}"))?;
        Ok(Authority {
            key,
            name: name.to_owned(),
        })
    }

    /// A server certificate for `hosts` (DNS names, wildcards allowed),
    /// valid for `days`, with a new key; its PEM holds the certificate and
    /// then the CA's (`ca_pem`), as a TLS server sends the chain.
    pub fn issue(&self, hosts: &[String], days: u64, ca_pem: &str) -> Result<Issued> {
        let (key, key_pem) = new_key()?;
        let public = key.public_key().as_ref().to_vec();
        let names: Vec<u8> = hosts.iter().flat_map(|h| tlv(0x82, h.as_bytes())).collect();
        let extensions = [
            extension(BASIC_CONSTRAINTS, true, &seq(&[])),
            extension(KEY_USAGE, true, &bit_string_bits(&[0])),
            extension(EXT_KEY_USAGE, false, &seq(&oid(SERVER_AUTH))),
            extension(SUBJECT_ALT_NAME, false, &seq(&names)),
            extension(SUBJECT_KEY_ID, false, &octets(&key_id(&public))),
            extension(
                AUTHORITY_KEY_ID,
                false,
                &seq(&tlv(0x80, &key_id(self.key.public_key().as_ref()))),
            ),
        ]
        .concat();
        let now = SystemTime::now();
        let not_after = now + Duration::from_secs(days * 86_400);
        let subject = hosts.first().map_or("localhost", String::as_str);
        let cert = self.sign_for(subject, &public, now, not_after, &extensions)?;
        Ok(Issued {
            cert_pem: format!("{}{}", pem("CERTIFICATE", &cert), ca_pem),
            key_pem,
            not_after,
        })
    }

    /// A certificate for `subject`'s `public` key, issued by this CA.
    fn sign_for(
        &self,
        subject: &str,
        public: &[u8],
        from: SystemTime,
        to: SystemTime,
        extensions: &[u8],
    ) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        let mut serial = [0u8; 16];
        rng.fill(&mut serial)
            .map_err(|_| anyhow!("no random bytes for a serial number"))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x40;
        let algorithm = seq(&oid(ECDSA_WITH_SHA256));
        let spki = seq(&[
            seq(&[oid(EC_PUBLIC_KEY), oid(PRIME256V1)].concat()),
            bit_string(public),
        ]
        .concat());
        // Backdated a little: a clock a minute behind still accepts it.
        let from = from - Duration::from_secs(300);
        let tbs = seq(&[
            tlv(0xa0, &integer(&[2])),
            integer(&serial),
            algorithm.clone(),
            name(&self.name),
            seq(&[time(from), time(to)].concat()),
            name(subject),
            spki,
            tlv(0xa3, &seq(extensions)),
        ]
        .concat());
        let signature = self
            .key
            .sign(&rng, &tbs)
            .map_err(|_| anyhow!("cannot sign the certificate"))?;
        Ok(seq(
            &[tbs, algorithm, bit_string(signature.as_ref())].concat()
        ))
    }
}

/// A new P-256 key: ring's key pair and its PKCS#8 PEM.
fn new_key() -> Result<(EcdsaKeyPair, String)> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| anyhow!("cannot generate a key"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| anyhow!("cannot load a new key: {e}"))?;
    Ok((key, pem("PRIVATE KEY", pkcs8.as_ref())))
}

/// The SHA-256 fingerprint of a PEM certificate's first certificate, as
/// browsers show it (`AB:CD:...`).
pub fn fingerprint(cert_pem: &str) -> Result<String> {
    let der = unpem("CERTIFICATE", cert_pem)?;
    Ok(Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
const SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
const AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
const SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const PRIME256V1: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const ORGANIZATION: &[u64] = &[2, 5, 4, 10];

/// A DER type-length-value.
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}

fn seq(content: &[u8]) -> Vec<u8> {
    tlv(0x30, content)
}

fn set(content: &[u8]) -> Vec<u8> {
    tlv(0x31, content)
}

fn boolean(value: bool) -> Vec<u8> {
    tlv(0x01, &[if value { 0xff } else { 0 }])
}

/// A non-negative INTEGER from big-endian bytes.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = match bytes.iter().position(|b| *b != 0) {
        Some(first) => bytes[first..].to_vec(),
        None => vec![0],
    };
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        value.push(0);
    }
    value.extend(trimmed);
    tlv(0x02, &value)
}

fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut value = vec![0];
    value.extend_from_slice(bytes);
    tlv(0x03, &value)
}

/// A named-bit BIT STRING (KeyUsage): bit 0 is the first byte's top bit.
fn bit_string_bits(bits: &[u8]) -> Vec<u8> {
    let last = bits.iter().copied().max().unwrap_or(0);
    let mut bytes = vec![0u8; usize::from(last / 8) + 1];
    for &bit in bits {
        bytes[usize::from(bit / 8)] |= 0x80 >> (bit % 8);
    }
    let unused = 7 - (last % 8);
    let mut value = vec![unused];
    value.extend(bytes);
    tlv(0x03, &value)
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut value = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        value.extend(chunk);
    }
    tlv(0x06, &value)
}

fn utf8(text: &str) -> Vec<u8> {
    tlv(0x0c, text.as_bytes())
}

/// `O=Stagecraft, CN=<common name>`.
fn name(common_name: &str) -> Vec<u8> {
    seq(&[
        set(&seq(&[oid(ORGANIZATION), utf8("Stagecraft")].concat())),
        set(&seq(&[oid(COMMON_NAME), utf8(common_name)].concat())),
    ]
    .concat())
}

fn extension(id: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut content = oid(id);
    if critical {
        content.extend(boolean(true));
    }
    content.extend(octets(value));
    seq(&content)
}

/// A key identifier: the first 20 bytes of the public key's SHA-256.
fn key_id(public: &[u8]) -> Vec<u8> {
    Sha256::digest(public)[..20].to_vec()
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280).
fn time(at: SystemTime) -> Vec<u8> {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if year < 2050 {
        let text = format!("{:02}{month:02}{day:02}{h:02}{m:02}{s:02}Z", year % 100);
        tlv(0x17, text.as_bytes())
    } else {
        let text = format!("{year:04}{month:02}{day:02}{h:02}{m:02}{s:02}Z");
        tlv(0x18, text.as_bytes())
    }
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date (the inverse of `civil_from_days`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of the first `label` block of a PEM text.
fn unpem(label: &str, text: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| anyhow!("no {label} in the PEM text"))?
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or_else(|| anyhow!("an unterminated {label} in the PEM text"))?
        + start;
    let body: String = text[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| anyhow!("a {label} that is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_pieces_encode_as_x690_says() {
        assert_eq!(oid(COMMON_NAME), [0x06, 0x03, 0x55, 0x04, 0x03]);
        assert_eq!(
            oid(ECDSA_WITH_SHA256),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        assert_eq!(integer(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(tlv(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
        // keyCertSign + cRLSign + digitalSignature: 1000 0110, one unused bit.
        assert_eq!(bit_string_bits(&[0, 5, 6]), [0x03, 0x02, 0x01, 0x86]);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_791), (2026, 12, 4));
        assert_eq!(
            time(UNIX_EPOCH + Duration::from_secs(1_796_370_000)),
            tlv(0x17, b"261204074000Z")
        );
        assert_eq!(
            time(UNIX_EPOCH + Duration::from_secs(2_600_000_000))[0],
            0x18
        );
    }

    #[test]
    fn a_ca_issues_a_certificate_and_its_key_loads_again() {
        let (ca, ca_files) = Authority::generate("Stagecraft test CA").unwrap();
        let hosts = vec![
            "photos.localtest.me".to_owned(),
            "*.localtest.me".to_owned(),
        ];
        let leaf = ca.issue(&hosts, 30, &ca_files.cert_pem).unwrap();
        assert!(leaf.cert_pem.ends_with(&ca_files.cert_pem));
        assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = Authority::load("Stagecraft test CA", &ca_files.key_pem).unwrap();
        assert_eq!(
            again.key.public_key().as_ref(),
            ca.key.public_key().as_ref()
        );
        assert_eq!(fingerprint(&ca_files.cert_pem).unwrap().len(), 95);
    }
}
