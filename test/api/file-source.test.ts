import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  type FileSourceReport,
  MemoryStore,
  planFileSync,
  type Resource,
  type Service,
  watchConfigDir,
} from "../../api/index.js";
import { tempDir } from "../helpers/tmp.js";

const svc = (name: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec:\n  selector: {app: ${name}}\n  ports: [{port: ${port}}]\n`;

/** Polls `check` until it holds (or fails the test after `ms`). */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 3000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(t: TestContext, files: Record<string, string>) {
  const dir = await tempDir(t, "trellis-files-");
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  const store = new MemoryStore();
  const foreign = await store.create({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "foreign" },
    spec: { ports: [{ port: 1 }] },
  });
  const reports: FileSourceReport[] = [];
  const source = await watchConfigDir(dir, store, {
    onReport: (r) => reports.push(r),
    debounceMs: 20,
    rescanMs: 0,
  });
  t.after(() => source.close());
  await source.ready;
  const names = async () => (await store.list("Service")).items.map((s) => s.metadata.name);
  return { dir, store, source, reports, foreign, names };
}

describe("watchConfigDir", () => {
  it("loads every manifest under the directory and remembers which file owns what", async (t) => {
    const { store, source, reports, names } = await start(t, {
      "b.yaml": svc("b"),
      "sub/a.yml": `${svc("a")}---\n${svc("a2")}`,
      "notes.txt": svc("ignored"),
      ".hidden.yaml": svc("hidden"),
    });
    assert.deepEqual(await names(), ["a", "a2", "b", "foreign"]);
    assert.deepEqual(
      [...source.owned()],
      [
        ["b.yaml", ["Service/default/b"]],
        ["sub/a.yml", ["Service/default/a", "Service/default/a2"]],
      ],
    );
    assert.deepEqual(
      reports
        .filter((r) => r.kind === "applied")
        .map((r) => r.kind === "applied" && [r.file, r.created]),
      [
        ["b.yaml", 1],
        ["sub/a.yml", 2],
      ],
    );
    assert.ok(await store.get("Service", "foreign"));
  });

  it("follows added, edited and deleted files, leaving unchanged objects and foreign ones alone", async (t) => {
    const { dir, store, reports, foreign, names } = await start(t, {
      "web.yaml": `${svc("web")}---\n${svc("api")}`,
    });

    await writeFile(join(dir, "new.yaml"), svc("extra"));
    await until(async () => (await names()).includes("extra"), "the added file's Service");

    await writeFile(join(dir, "web.yaml"), svc("web", 8080)); // api dropped, web changed
    await until(
      async () => (await store.get("Service", "web"))?.spec.ports?.[0]?.port === 8080,
      "the edit",
    );
    await until(async () => !(await names()).includes("api"), "the dropped object to be deleted");
    assert.ok(
      reports.some(
        (r) => r.kind === "applied" && r.file === "web.yaml" && r.updated === 1 && r.deleted === 1,
      ),
    );

    const extraVersion = (await store.get("Service", "extra"))?.metadata.resourceVersion;
    await writeFile(join(dir, "new.yaml"), `# a comment only changes the text\n${svc("extra")}`);
    await until(
      () => reports.some((r) => r.kind === "applied" && r.file === "new.yaml" && r.unchanged === 1),
      "the no-op edit",
    );
    assert.equal(
      (await store.get("Service", "extra"))?.metadata.resourceVersion,
      extraVersion,
      "unchanged objects keep their version",
    );

    await rm(join(dir, "new.yaml"));
    await until(async () => !(await names()).includes("extra"), "the deleted file's objects to go");
    assert.ok(
      reports.some((r) => r.kind === "removed" && r.file === "new.yaml" && r.deleted === 1),
    );
    const still = await store.get("Service", "foreign");
    assert.equal(
      still?.metadata.resourceVersion,
      foreign.metadata.resourceVersion,
      "the foreign object is untouched",
    );
  });

  it("reports an invalid edit and keeps the file's last good objects", async (t) => {
    const { dir, store, reports } = await start(t, { "web.yaml": svc("web") });
    const before = await store.get("Service", "web");
    await writeFile(join(dir, "web.yaml"), svc("web", 70000));
    await until(() => reports.some((r) => r.kind === "invalid"), "the invalid report");
    const invalid = reports.find((r) => r.kind === "invalid");
    assert.ok(invalid?.kind === "invalid");
    assert.equal(invalid.file, "web.yaml");
    assert.deepEqual(
      invalid.issues.map((i) => [i.document, i.path]),
      [["web.yaml#1 (Service default/web)", "spec.ports[0].port"]],
    );
    assert.deepEqual(await store.get("Service", "web"), before, "the store did not change");

    await writeFile(join(dir, "web.yaml"), svc("web", 81));
    await until(
      async () => (await store.get("Service", "web"))?.spec.ports?.[0]?.port === 81,
      "the fixed file",
    );
  });

  it("gives a key claimed by two files to the first in sorted order and reports the other", async (t) => {
    const { dir, store, reports, source } = await start(t, {
      "a.yaml": svc("web", 80),
      "b.yaml": svc("web", 90),
    });
    assert.equal((await store.get("Service", "web"))?.spec.ports?.[0]?.port, 80);
    assert.deepEqual(
      reports.filter((r) => r.kind === "duplicate"),
      [{ kind: "duplicate", file: "b.yaml", key: "Service/default/web", ownedBy: "a.yaml" }],
    );
    await rm(join(dir, "a.yaml"));
    await until(
      async () => (await store.get("Service", "web"))?.spec.ports?.[0]?.port === 90,
      "b.yaml to take over",
    );
    assert.deepEqual([...source.owned()], [["b.yaml", ["Service/default/web"]]]);
  });

  it("refuses a directory that does not exist", async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(watchConfigDir(join(dir, "nope"), new MemoryStore()), {
      code: "CONFIG_DIR_NOT_FOUND",
    });
  });
});

describe("planFileSync", () => {
  const r = (name: string, port: number): Resource =>
    ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "default" },
      spec: { ports: [{ port }] },
    }) as Service;
  it("applies only new or changed objects and deletes what no file holds", () => {
    const plan = planFileSync(
      new Map([
        [
          "x.yaml",
          new Map([
            ["Service/default/a", r("a", 80)],
            ["Service/default/b", r("b", 81)],
          ]),
        ],
      ]),
      new Map([
        ["Service/default/a", { file: "x.yaml", resource: r("a", 80) }],
        ["Service/default/b", { file: "x.yaml", resource: r("b", 80) }],
        ["Service/default/c", { file: "y.yaml", resource: r("c", 80) }],
      ]),
    );
    assert.deepEqual(
      plan.apply.map((o) => o.resource.metadata.name),
      ["b"],
    );
    assert.deepEqual(plan.delete, [{ file: "y.yaml", key: "Service/default/c" }]);
    assert.deepEqual(plan.duplicates, []);
  });
});
