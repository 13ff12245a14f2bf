// cni-redirect/: the chained CNI plugin that sends a meshed pod's TCP traffic through its
// sidecar, the same rules for an init container, and the installer for real nodes.

export { applyRedirect, checkRedirect, type RedirectMode, removeRedirect } from "./apply.js";
export { defaultEntry, InstallError, TRELLIS_CNI_TYPE } from "./install.js";
export { installCni, uninstallCni } from "./installer.js";
export { POD_ANNOTATIONS_CAPABILITY, runPlugin } from "./plugin.js";
export { CniCode, CniError, SUPPORTED_VERSIONS } from "./protocol.js";
export { Annotation, decideRedirect, type RedirectConfig, SIDECAR } from "./redirect-config.js";
export { iptablesApplyScript } from "./rules-iptables.js";
export { nftApplyScript } from "./rules-nft.js";
