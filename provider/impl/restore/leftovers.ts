/**
 * What a failed earlier attempt left (its restored container, data and
 * staging dirs, throwaway containers): seen by the preflight, set aside
 * (renamed, never deleted) once the guard has passed.
 */
import { removeContainer, renameContainer, stopForGood } from "../../connection/docker";
import type { ContainerState } from "../../connection/docker";
import { archivePath, removeEmptyDir } from "../../connection/hostfs";
import type { PathState } from "../../connection/hostfs";
import type { SshSession } from "../../connection/ssh";
import { progress } from "../common";
import { stagingDir, TOOL_NAMES, WHAT } from "./settings";
import type { RestoreSettings } from "./settings";

/** What the preflight saw of a failed earlier attempt's leftovers (reads only), before the image check starts its own throwaway container. */
export interface Leftovers {
  /** TOOL_NAMES' containers made by a restore. */
  tools: boolean[];
  /** The target container (ours: a foreign one was refused). */
  target: ContainerState;
  /** restoreDataDir and its staging dir. */
  dirs: PathState[];
}

/** After the guard's verdict: set aside what a failed earlier attempt left. Never deletes, never touches the learner's data dir. */
export async function cleanupLeftovers(ssh: SshSession, s: RestoreSettings, when: string, seen: Leftovers): Promise<string[]> {
  const moved: string[] = [];
  const dirs = [s.restoreDataDir, stagingDir(s)];
  for (const [i, tool] of seen.tools.entries()) {
    if (tool) await removeContainer(ssh, TOOL_NAMES[i], { force: true });
  }
  if (seen.target.exists) {
    const to = `${s.containerName}-failed-${when.toLowerCase()}`;
    progress(WHAT, `stopping and renaming ${s.containerName} left by a failed attempt to ${to}`);
    await stopForGood(ssh, s.containerName, 30);
    await renameContainer(ssh, s.containerName, to);
    moved.push(`container ${to}`);
  }
  for (const [i, dir] of dirs.entries()) {
    const st = seen.dirs[i];
    if (st === "non-empty-dir" || st === "file") {
      const { to } = await archivePath(ssh, dir, `${dir}.failed-${when}`);
      progress(WHAT, `moved ${dir} left by a failed attempt to ${to}`);
      moved.push(to);
    } else if (st === "empty-dir") {
      await removeEmptyDir(ssh, dir);
    }
  }
  return moved;
}
