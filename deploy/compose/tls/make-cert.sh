#!/bin/sh
# Makes a self-signed certificate for the compose load balancers when none is
# there yet. For anything but a trial, put your own certificate and key
# (concatenated, PEM) at deploy/compose/certs/trackstream.pem instead: the
# `tls-init` step then leaves it alone.
set -eu
out=/certs/trackstream.pem
if [ -s "$out" ]; then
  echo "using the existing $out"
  exit 0
fi
apk add --no-cache openssl >/dev/null
openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes \
  -subj "/CN=${TLS_COMMON_NAME:-localhost}" \
  -addext "subjectAltName=DNS:${TLS_COMMON_NAME:-localhost},DNS:localhost,IP:127.0.0.1" \
  -keyout /tmp/key.pem -out /tmp/cert.pem 2>/dev/null
cat /tmp/cert.pem /tmp/key.pem > "$out"
rm -f /tmp/key.pem /tmp/cert.pem
# haproxy runs as its own non-root user in its image.
chmod 0644 "$out"
echo "made a self-signed certificate for ${TLS_COMMON_NAME:-localhost} at $out"
