// The protocol decoders' public surface in one include: EgressDecoder per connection, and the
// standalone parsers for ClientHello and DNS.
#pragma once

#include "stream/decoders/decoded_chunk.h"
#include "stream/decoders/dns.h"
#include "stream/decoders/egress_decoder.h"
#include "stream/decoders/tls_client_hello.h"
