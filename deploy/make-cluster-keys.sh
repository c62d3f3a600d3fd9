#!/usr/bin/env bash
# Makes the TLS key material of a bilevel cluster: one key pair + self-signed certificate shared by all
# nodes ("the cluster certificate"), in
#
#   DIR/cluster-keystore.p12    the key pair (PKCS12)             -> bilevel node --tls-keystore
#   DIR/cluster-truststore.p12  the certificate alone (PKCS12)    -> bilevel node --tls-truststore
#   DIR/cluster-cert.pem        the certificate (PEM), for inspection
#   DIR/password                the password of both stores (only when BILEVEL_TLS_PASSWORD was not set)
#
#   deploy/make-cluster-keys.sh DIR [--days N] [--name CN]
#
# Password: $BILEVEL_TLS_PASSWORD if set, else a random one written to DIR/password (mode 600). Nodes read
# it from the environment: export BILEVEL_TLS_PASSWORD=$(cat DIR/password). Copy the two .p12 files to every
# node (they are secrets: whoever holds the key store can join the cluster). DIR must not exist or be empty.
# Needs keytool (any JDK 11+; JAVA_HOME or PATH).
set -euo pipefail
usage() { echo "usage: $0 DIR [--days N] [--name CN]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir="$1"; shift
days=825
name="bilevel-cluster"
while [ $# -gt 0 ]; do
    case "$1" in
        --days) [ $# -ge 2 ] || usage; days="$2"; shift 2 ;;
        --name) [ $# -ge 2 ] || usage; name="$2"; shift 2 ;;
        *) usage ;;
    esac
done
case "$days" in ''|*[!0-9]*) echo "make-cluster-keys: --days must be a positive number, got '$days'" >&2; exit 2 ;; esac

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/keytool" ]; then
    keytool="$JAVA_HOME/bin/keytool"
elif command -v keytool >/dev/null 2>&1; then
    keytool="$(command -v keytool)"
else
    echo "make-cluster-keys: keytool not found (install a JDK or set JAVA_HOME)" >&2
    exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    echo "make-cluster-keys: $dir exists and is not empty (refusing to overwrite keys)" >&2
    exit 1
fi
wrote_password=""
if [ -z "${BILEVEL_TLS_PASSWORD:-}" ]; then
    BILEVEL_TLS_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
    wrote_password=yes
fi
export BILEVEL_TLS_PASSWORD
if [ "${#BILEVEL_TLS_PASSWORD}" -lt 6 ]; then
    echo "make-cluster-keys: BILEVEL_TLS_PASSWORD must have at least 6 characters (PKCS12)" >&2
    exit 2
fi
umask 077
mkdir -p "$dir"
if [ -n "$wrote_password" ]; then
    printf '%s\n' "$BILEVEL_TLS_PASSWORD" > "$dir/password"
fi

fail() {
    echo "make-cluster-keys: $1 failed; nothing usable was written (remove $dir and try again)" >&2
    rm -f "$dir/cluster-keystore.p12" "$dir/cluster-truststore.p12" "$dir/cluster-cert.pem"
    exit 1
}
# passwords go through the environment (:env), never on a command line that other users can see in ps
"$keytool" -genkeypair -alias bilevel-cluster -keyalg RSA -keysize 2048 -sigalg SHA256withRSA \
    -validity "$days" -dname "CN=$name" -storetype PKCS12 -keystore "$dir/cluster-keystore.p12" \
    -storepass:env BILEVEL_TLS_PASSWORD -keypass:env BILEVEL_TLS_PASSWORD >/dev/null 2>"$dir/.keytool.log" \
    || { cat "$dir/.keytool.log" >&2; fail "keytool -genkeypair"; }
"$keytool" -exportcert -rfc -alias bilevel-cluster -keystore "$dir/cluster-keystore.p12" -storetype PKCS12 \
    -storepass:env BILEVEL_TLS_PASSWORD -file "$dir/cluster-cert.pem" >/dev/null 2>"$dir/.keytool.log" \
    || { cat "$dir/.keytool.log" >&2; fail "keytool -exportcert"; }
"$keytool" -importcert -noprompt -alias bilevel-cluster -file "$dir/cluster-cert.pem" -storetype PKCS12 \
    -keystore "$dir/cluster-truststore.p12" -storepass:env BILEVEL_TLS_PASSWORD >/dev/null 2>"$dir/.keytool.log" \
    || { cat "$dir/.keytool.log" >&2; fail "keytool -importcert"; }
rm -f "$dir/.keytool.log"

echo "cluster key store:   $dir/cluster-keystore.p12"
echo "cluster trust store: $dir/cluster-truststore.p12"
echo "certificate:         $dir/cluster-cert.pem (CN=$name, valid $days days)"
if [ -n "$wrote_password" ]; then
    echo "password:            $dir/password   (export BILEVEL_TLS_PASSWORD=\$(cat $dir/password))"
fi
echo "start each node with: bilevel node ... --tls-keystore $dir/cluster-keystore.p12 --tls-truststore $dir/cluster-truststore.p12"
