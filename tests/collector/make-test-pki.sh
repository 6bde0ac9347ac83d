#!/usr/bin/env bash
# Generates a throw-away PKI for collector tests in DIR: a test CA, a server certificate for
# 127.0.0.1/localhost, an agent client certificate signed by the CA, and a rogue CA with a
# client certificate the collector must reject. Keys never leave DIR; tests delete DIR.
set -euo pipefail
dir=${1:?usage: make-test-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=2
subj() { echo "/O=credsentry-test/CN=$1"; }

mkca() {  # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days $days \
    -keyout "$1.key" -out "$1.pem" -subj "$(subj "$1")" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
}

mkleaf() {  # name ca extfile-content
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "$(subj "$1")" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days $days \
    -out "$1.pem" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

mkca ca
mkca rogue-ca
mkleaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
mkleaf client ca "extendedKeyUsage=clientAuth"
mkleaf rogue-client rogue-ca "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
echo "test PKI in $dir"
