/*
 * include/linux/cred.h, reduced to what the model checks: who is calling.
 *
 * Every request that reaches the model from outside carries one: the FUSE
 * transport takes uid, gid and pid from the request header (pid is the
 * calling *thread*, as fuse_in_header has it), the control socket from the
 * peer's SO_PEERCRED. The model's own calls (boot, tests) act as the kernel
 * itself, ROOT_CRED.
 */
export interface Cred {
  uid: number;
  gid: number;
  /* The caller's thread id (a thread group's leader has tid == tgid). */
  pid: number;
}

export const ROOT_CRED: Readonly<Cred> = Object.freeze({ uid: 0, gid: 0, pid: 0 });

/*
 * capable(): does the caller hold the capability a privileged path checks
 * (CAP_SYS_ADMIN, CAP_NET_ADMIN)? The simulation has no capability sets:
 * euid 0 holds them all, everyone else none, as on a host without file
 * capabilities or user namespaces.
 */
export function capable(cred: Readonly<Cred>): boolean {
  return cred.uid === 0;
}
