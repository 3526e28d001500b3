"""Certificates made on the fly for TLS tests: a self-signed certificate and its key."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(
    name: str = "nginx-tls-lb", days: int = 30, ip: str = "127.0.0.1"
) -> tuple[str, str, str]:
    """(certificate PEM, unencrypted PKCS#8 key PEM, SHA-256 fingerprint as openssl
    prints it) for DNS name `name` and address `ip`; negative days: expired that long ago."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=1 + max(0, -days) * 2)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(ip))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem, fingerprint
