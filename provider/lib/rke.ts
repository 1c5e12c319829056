/** RKE's conventions that several resources rely on. Pure module: no I/O. */

/** RKE's client TLS files for talking to the local kube-apiserver: kube-ca and the kube-node pair present on every node. */
export const RKE_TLS = { caFile: "/etc/kubernetes/ssl/kube-ca.pem", certFile: "/etc/kubernetes/ssl/kube-node.pem", keyFile: "/etc/kubernetes/ssl/kube-node-key.pem" };

/** kube-apiserver's secure port under RKE. */
export const RKE_APISERVER_PORT = 6443;
