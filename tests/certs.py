"""A throwaway PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and localhost, and a client
certificate, all signed by the CA and written as PEM files.

    pki = make_pki(tmp_path)
    with Receiver(tls=pki.server_context()) as partner:   # asks for a client certificate
        ...

More client certificates from the same CA (one per trading partner, say): `pki.issue_client("acme")`.
"""
from __future__ import annotations

import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_NAME = "claimbridge client"


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    ca_key: Path

    def issue_client(self, name: str) -> ClientCert:
        """Another client certificate signed by this CA, written beside the others as <name>.pem/.key."""
        ca = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _leaf(_name(name), key, ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(ca_key, hashes.SHA256())
        issued = ClientCert(self.ca_file.parent / f"{name}.pem", self.ca_file.parent / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(issued.key, key)
        return issued

    def client_context(self, client: ClientCert | None = None) -> ssl.SSLContext:
        """A client's TLS context trusting this CA, presenting `client`'s certificate (if any)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if client is not None:
            context.load_cert_chain(client.cert, client.key)
        return context

    def server_context(self, require_client_cert: bool = True) -> ssl.SSLContext:
        """A server's TLS context: its certificate, and (by default) a client certificate from the CA required."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_file)
        return context


def make_pki(directory: Path, *, client_name: str = CLIENT_NAME) -> Pki:
    """Write a fresh CA, server and client certificate (and their keys) under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("claimbridge test CA")
    ca = (_builder(ca_name, ca_name, ca_key.public_key(), ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = (_leaf(_name("127.0.0.1"), server_key, ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                          x509.DNSName("localhost")]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    client = _leaf(_name(client_name), client_key, ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(ca_key, hashes.SHA256())
    pki = Pki(ca_file=directory / "ca.pem", server_cert=directory / "server.pem", server_key=directory / "server.key",
              client_cert=directory / "client.pem", client_key=directory / "client.key", ca_key=directory / "ca.key")
    for path, cert in ((pki.ca_file, ca), (pki.server_cert, server), (pki.client_cert, client)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for path, key in ((pki.server_key, server_key), (pki.client_key, client_key), (pki.ca_key, ca_key)):
        _write_key(path, key)
    return pki


@dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER, lowercase hex."""
        der = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key, issuer_key) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))


def _leaf(subject: x509.Name, key, ca: x509.Certificate, ca_key, usage) -> x509.CertificateBuilder:
    return (_builder(subject, ca.subject, key.public_key(), ca_key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
