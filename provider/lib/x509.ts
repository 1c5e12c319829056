/**
 * Checks of X.509 certificates before they are used: parsing, the validity
 * period, and whether a certificate names an address. etcd and OpenSSL only
 * say "bad certificate" when these fail, so the resources check them first.
 *
 * Pure module: no I/O.
 */
import { X509Certificate } from "node:crypto";

/** The certificate in `pem`, or undefined when it is not one. */
export function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** Why the certificate cannot be used at `now`: "expired", "not yet valid", or undefined while valid. */
export function validityProblem(cert: X509Certificate, now = Date.now()): "expired" | "not yet valid" | undefined {
  if (now > Date.parse(cert.validTo)) return "expired";
  if (now < Date.parse(cert.validFrom)) return "not yet valid";
  return undefined;
}

/** True when the certificate's SANs name `address`: its IP SANs for an IP address, its DNS names otherwise. */
export function namesAddress(cert: X509Certificate, address: string): boolean {
  return (/^[\d.]+$|:/.test(address) ? cert.checkIP(address) : cert.checkHost(address)) !== undefined;
}
