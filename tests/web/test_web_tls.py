"""``calcdx serve --ssl-certfile/--ssl-keyfile``: HTTPS with a self-signed certificate."""

import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from calcdx.errors import CalcdxError
from calcdx.web import WebSettings

from .conftest import TOKEN


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (cryptography, else openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is installed")
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt"]
        command += ["ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert)]
        command += ["-days", "1", "-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1"]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
        )
        return cert, key
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_speaks_https_with_the_given_certificate(tmp_path, workers):
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    command = [sys.executable, "-m", "calcdx.cli.main", "serve", "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state"), "--workers", str(workers)]
    command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stderr=sink)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()
            try:
                url = f"https://127.0.0.1:{port}/api/kb"
                with urllib.request.urlopen(url, context=trusted, timeout=5) as response:
                    assert response.status == 200
                    assert json.loads(response.read())
                break
            except (ConnectionError, urllib.error.URLError) as exc:
                if isinstance(getattr(exc, "reason", None), ssl.SSLError):
                    raise
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        # an unencrypted request gets no page
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(f"GET /api/kb HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            answer = plain.recv(4096)
        assert b"200 OK" not in answer
        # a client that does not trust the certificate refuses the server
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/api/kb", timeout=5)
    finally:
        server.terminate()
        server.wait(60)
    assert "Traceback" not in log.read_text()


def test_certificate_and_key_are_checked_before_serving(tmp_path):
    cert, key = _self_signed(tmp_path)
    with pytest.raises(CalcdxError, match="both --ssl-certfile and --ssl-keyfile"):
        WebSettings(state_dir=tmp_path, ssl_certfile=cert)
    with pytest.raises(CalcdxError, match=r"cannot use the TLS certificate cert\.pem"):
        WebSettings(state_dir=tmp_path, ssl_certfile=cert, ssl_keyfile=cert)
    with pytest.raises(CalcdxError, match="cannot use the TLS certificate"):
        WebSettings(state_dir=tmp_path, ssl_certfile=tmp_path / "missing.pem", ssl_keyfile=key)
    settings = WebSettings(state_dir=tmp_path, ssl_certfile=cert, ssl_keyfile=key)
    assert settings.tls and WebSettings.from_json(settings.to_json()) == settings


def test_cli_bad_certificate_is_one_line_exit_2(tmp_path, capsys):
    from calcdx.cli.main import main

    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    options = ["--state-dir", str(tmp_path), "--ssl-certfile", str(bad), "--ssl-keyfile", str(bad)]
    code = main(["serve", *options])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot use the TLS certificate bad.pem" in err


def test_token_cookie_is_secure_over_https(make_app):
    client = make_app(host="0.0.0.0", token=TOKEN)
    client.base_url = "https://127.0.0.1:8000"
    response = client.get("/kb", params={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]
    plain = make_app(host="0.0.0.0", token=TOKEN)
    response = plain.get("/kb", params={"token": TOKEN}, follow_redirects=False)
    assert "Secure" not in response.headers["set-cookie"]


def test_plain_http_off_loopback_warns(tmp_path, monkeypatch, capfd):
    import uvicorn

    import calcdx.web.serve as serve

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    serve.serve_command(host="0.0.0.0", token=TOKEN, state_dir=tmp_path)
    assert "plain HTTP on 0.0.0.0" in capfd.readouterr().err
