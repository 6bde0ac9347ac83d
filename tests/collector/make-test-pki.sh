#!/usr/bin/env bash
# Generates a throw-away PKI for collector tests in DIR: a test CA, a server certificate for
# 127.0.0.1/localhost, and a rogue CA with a client certificate the collector must reject.
# Agent certificates are one per host, as in production (the collector refuses a host name
# its certificate does not name):
#   client        this machine's host name (CN and DNS SAN), what a real agent here reports
#   agent-HOST    for each HOST argument (CN and DNS SAN HOST)
#   cn-only       CN cn-only-host and no SAN
#   san-over-cn   CN cn-host, DNS SANs san-host and alias-host (the CN must not count)
# Run again on an existing DIR it keeps the CA and only adds agent-HOST certificates.
# Keys never leave DIR; tests delete DIR.
set -euo pipefail
dir=${1:?usage: make-test-pki.sh DIR [HOST...]}
shift
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

mkleaf() {  # name ca extfile-content [common-name, default: name]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "$(subj "${4:-$1}")" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days $days \
    -out "$1.pem" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

mkagent() {  # file-name host
  mkleaf "$1" ca "subjectAltName=DNS:$2
extendedKeyUsage=clientAuth" "$2"
}

if [[ ! -e ca.pem ]]; then
  mkca ca
  mkca rogue-ca
  mkleaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
  mkagent client "$(hostname)"
  mkleaf cn-only ca "extendedKeyUsage=clientAuth" cn-only-host
  mkleaf san-over-cn ca "subjectAltName=DNS:san-host,DNS:alias-host
extendedKeyUsage=clientAuth" cn-host
  mkleaf rogue-client rogue-ca "extendedKeyUsage=clientAuth"
fi
for host in "$@"; do
  [[ -e "agent-$host.pem" ]] || mkagent "agent-$host" "$host"
done
chmod 600 ./*.key
echo "test PKI in $dir"
