"""A real SMTP server for the e-mail notification tests: aiosmtpd with STARTTLS required and AUTH.

Usage: smtp_server.py OUT_DIR USER PASSWORD
Makes a throwaway certificate authority and a certificate for 127.0.0.1 (OUT_DIR/ca.pem, for
the client to trust), listens on 127.0.0.1 (a free port, printed as the first line), refuses
MAIL before STARTTLS and before a login, accepts only USER with PASSWORD (PASSWORD may be @FILE:
read from FILE at each login, for a password rotated while the server runs), and writes each
message it takes to OUT_DIR/{n}.eml, logging "from to1,to2 n" lines to OUT_DIR/messages.log.
Failed logins are logged as "AUTH-FAILED user" to OUT_DIR/messages.log.
"""
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out_dir, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
log_path = os.path.join(out_dir, "messages.log")


def make_certs():
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cipherdrop test SMTP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    with open(os.path.join(out_dir, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    cert_path = os.path.join(out_dir, "server.pem")
    key_path = os.path.join(out_dir, "server.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def expected_password():
    if password.startswith("@"):
        with open(password[1:]) as f:
            return f.read().strip()
    return password


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        got_user = auth_data.login.decode()
        if got_user == user and auth_data.password.decode() == expected_password():
            return AuthResult(success=True)
        with open(log_path, "a") as f:
            f.write(f"AUTH-FAILED {got_user}\n")
    return AuthResult(success=False, handled=False)


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        with open(os.path.join(out_dir, f"{self.count}.eml"), "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(log_path, "a") as f:
            f.write(f"{envelope.mail_from} {','.join(envelope.rcpt_tos)} {self.count}\n")
        return "250 Message accepted for delivery"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ctx = make_certs()
port = free_port()
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=port,
    tls_context=ctx,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
)
controller.start()
print(port, flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
