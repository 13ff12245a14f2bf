// Two issued SVIDs complete a mutual-TLS handshake with node:tls and each side sees the
// other's SPIFFE ID; a client with no certificate, or one from another CA, is refused.
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { connect, createServer, type TLSSocket } from "node:tls";
import {
  CertificateAuthority,
  mtlsOptions,
  type SvidCredentials,
  spiffeIdOfPeer,
  svidPem,
} from "../../certs/index.js";

const FRONTEND = "spiffe://cluster.local/ns/default/sa/frontend";
const BACKEND = "spiffe://cluster.local/ns/default/sa/backend";

async function credentials(ca: CertificateAuthority, id: string): Promise<SvidCredentials> {
  const svid = await ca.issue({ spiffeId: id });
  const pem = svidPem(svid);
  return { key: svid.privateKeyPem, chain: pem.chain, bundle: pem.bundle };
}

/** Serves one echo of the peer's identity; returns what each side saw, or the client's error. */
async function exchange(
  server: SvidCredentials,
  client: Partial<SvidCredentials> & { bundle: string },
) {
  const seenByServer: string[] = [];
  const srv = createServer(mtlsOptions(server), (socket: TLSSocket) => {
    seenByServer.push(spiffeIdOfPeer(socket).uri);
    socket.end("ok");
  });
  srv.on("tlsClientError", () => {});
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  try {
    const port = (srv.address() as AddressInfo).port;
    const tlsOptions =
      client.key && client.chain
        ? mtlsOptions({ key: client.key, chain: client.chain, bundle: client.bundle })
        : { ca: client.bundle, checkServerIdentity: () => undefined };
    const socket = connect({ ...tlsOptions, host: "127.0.0.1", port });
    let seenByClient = "";
    socket.on("secureConnect", () => {
      seenByClient = spiffeIdOfPeer(socket).uri;
    });
    let body = "";
    socket.on("data", (d) => {
      body += d;
    });
    const outcome = await new Promise<string>((resolve) => {
      socket.on("end", () => resolve("ended"));
      socket.on("error", (err) => resolve(`error: ${err.message}`));
    });
    socket.destroy();
    return { seenByServer, seenByClient, body, outcome };
  } finally {
    srv.close();
  }
}

describe("mutual TLS with SVIDs", () => {
  it("completes, and each side sees the other's SPIFFE ID", async () => {
    const ca = await CertificateAuthority.create({ intermediate: true });
    const r = await exchange(await credentials(ca, BACKEND), await credentials(ca, FRONTEND));
    assert.equal(r.body, "ok");
    assert.deepEqual(r.seenByServer, [FRONTEND]);
    assert.equal(r.seenByClient, BACKEND);
  });

  it("refuses a client that presents no certificate", async () => {
    const ca = await CertificateAuthority.create();
    const backend = await credentials(ca, BACKEND);
    const r = await exchange(backend, { bundle: backend.bundle });
    assert.equal(r.body, "");
    assert.deepEqual(r.seenByServer, []);
  });

  it("refuses a client whose SVID comes from another CA, even if it trusts ours", async () => {
    const ca = await CertificateAuthority.create();
    const backend = await credentials(ca, BACKEND);
    const stranger = await credentials(await CertificateAuthority.create(), FRONTEND);
    const r = await exchange(backend, { ...stranger, bundle: backend.bundle });
    assert.equal(r.body, "");
    assert.deepEqual(r.seenByServer, []);
  });

  it("refuses, on the client side, a server from another CA", async () => {
    const ca = await CertificateAuthority.create();
    const impostor = await credentials(await CertificateAuthority.create(), BACKEND);
    const r = await exchange(impostor, await credentials(ca, FRONTEND));
    assert.match(r.outcome, /^error: .*(issuer|self.signed|unable to verify)/i);
    assert.equal(r.seenByClient, "");
  });
});
