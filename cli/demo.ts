// `trellis demo` (what `npm start` runs): until the lab and the mesh exist, the nearest
// real thing — a CA issues two workloads their SPIFFE identities, they complete a mutual
// TLS handshake and name each other, the CA refuses a forged request, and a root
// rotation leaves existing identities valid.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import {
  CertError,
  CertificateAuthority,
  createCsr,
  generateKeyPair,
  initCaDir,
  mtlsOptions,
  privateKeyToPem,
  type SvidCredentials,
  saveCaDir,
  spiffeIdOfPeer,
  svidPem,
  verifySvid,
} from "../certs/index.js";
import type { Command, Invocation } from "./command.js";

/** A workload: it makes its own key and asks the CA to sign a CSR for its identity. */
async function enroll(ca: CertificateAuthority, spiffeId: string): Promise<SvidCredentials> {
  const keys = await generateKeyPair("ec-p256");
  const svid = await ca.signCsr(await createCsr(keys.privateKey, [spiffeId]), {
    allowedIdentity: spiffeId,
  });
  const pem = svidPem(svid);
  return { key: privateKeyToPem(keys.privateKey), chain: pem.chain, bundle: pem.bundle };
}

/** One mTLS exchange on loopback; resolves to what each side saw of the other. */
async function handshake(
  server: SvidCredentials,
  client: SvidCredentials,
): Promise<{ serverSaw: string; clientSaw: string }> {
  // The server answers with the identity it saw, so the client learns it in-band.
  const srv = createServer(mtlsOptions(server), (socket: TLSSocket) =>
    socket.end(spiffeIdOfPeer(socket).uri),
  );
  let serverRefusal = "";
  srv.on("tlsClientError", (err) => {
    serverRefusal = err.message;
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  try {
    return await new Promise((resolve, reject) => {
      let clientSaw = "";
      let reply = "";
      const socket = connect({ ...mtlsOptions(client), host: "127.0.0.1", port }, () => {
        clientSaw = spiffeIdOfPeer(socket).uri;
      });
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        reply += chunk;
      });
      const fail = (err?: Error) =>
        reject(
          new Error(
            serverRefusal
              ? `the server refused the client: ${serverRefusal}`
              : (err?.message ?? "the server closed the connection"),
          ),
        );
      socket.on("end", () => (reply ? resolve({ serverSaw: reply, clientSaw }) : fail()));
      socket.on("error", fail);
      socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5s")));
    });
  } finally {
    srv.close();
  }
}

async function runDemo(inv: Invocation): Promise<number> {
  const say = (title: string) => inv.out(`\n== ${title}`);
  const dir = await mkdtemp(join(tmpdir(), "trellis-demo-ca-"));
  try {
    say("1. A certificate authority for trust domain cluster.local (root + intermediate)");
    const ca = await initCaDir(dir, { intermediate: true });
    inv.out(`   CA files in ${dir}`);

    say("2. Two workloads generate keys and get SVIDs from CSRs");
    const frontendId = "spiffe://cluster.local/ns/default/sa/frontend";
    const backendId = "spiffe://cluster.local/ns/default/sa/backend";
    const frontend = await enroll(ca, frontendId);
    const backend = await enroll(ca, backendId);
    inv.out(`   frontend: ${frontendId}\n   backend:  ${backendId}`);

    say("3. Mutual TLS on 127.0.0.1: each side verifies the other and reads its SPIFFE ID");
    const seen = await handshake(backend, frontend);
    inv.out(
      `   backend saw the client as  ${seen.serverSaw}\n   frontend saw the server as ${seen.clientSaw}`,
    );

    say(
      "4. The CA signs only the identity the caller is allowed: a CSR for another one is refused",
    );
    const keys = await generateKeyPair("ec-p256");
    try {
      await ca.signCsr(await createCsr(keys.privateKey, [backendId]), {
        allowedIdentity: frontendId,
      });
      inv.err("   the CA signed a forged request: this is a bug");
      return 1;
    } catch (err) {
      if (!(err instanceof CertError)) throw err;
      inv.out(`   refused: ${err.code}: ${err.message}`);
    }

    say("5. A workload whose certificate comes from another CA cannot join, even with our bundle");
    const stranger = {
      ...(await enroll(await CertificateAuthority.create(), frontendId)),
      bundle: backend.bundle,
    };
    const refused = await handshake(backend, stranger).then(
      () => "accepted (this is a bug)",
      (err: Error) => `refused (${err.message})`,
    );
    inv.out(`   handshake with a stranger's certificate: ${refused}`);

    say("6. Root rotation: the old root stays trusted until the SVIDs it signed expire");
    await ca.rotateRoot();
    await saveCaDir(dir, ca);
    const rotatedBackend = await enroll(ca, backendId);
    const bundle = ca.trustBundle();
    const old = await verifySvid(frontend.chain, bundle, "cluster.local");
    inv.out(
      `   trust bundle now holds ${bundle.roots.length} roots; until ${ca.material.retiredRoots[0]?.retainUntil.toISOString()}`,
    );
    inv.out(
      `   the frontend's SVID from the old root: ${old.ok ? `still valid (${old.spiffeId.uri})` : old.error.code}`,
    );
    const mixed = await handshake(rotatedBackend, { ...frontend, bundle: rotatedBackend.bundle });
    inv.out(`   old-root frontend ↔ new-root backend handshake: backend saw ${mixed.serverSaw}`);

    inv.out(
      "\nNext: 'trellis ca --help' to do this by hand; the mesh and the lab build on this CA.",
    );
    return 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const demoCommand: Command = {
  name: "demo",
  summary: "the guided demo (npm start): workload identity and mutual TLS, for real",
  help: "Usage: trellis demo",
  run: runDemo,
};
