/** Registry helpers: version ordering, which version to offer for promotion, which model to offer. */
import type { ModelVersion, RegisteredModel } from '../api/types';

export function byVersionDesc(a: ModelVersion, b: ModelVersion): number {
  return Number(b.version) - Number(a.version) || b.version.localeCompare(a.version);
}

/** The version a person most likely wants to promote: the challenger, else the newest non-champion. */
export function defaultCandidate(versions: ModelVersion[], aliases: Record<string, string>): string {
  const champion = aliases.champion;
  const challenger = aliases.challenger;
  if (challenger && challenger !== champion && versions.some((v) => v.version === challenger)) return challenger;
  const sorted = [...versions].sort(byVersionDesc);
  return (sorted.find((v) => v.version !== champion) ?? sorted[0])?.version ?? '';
}

/** The model named `name`, else the first with a champion, else the first. */
export function pickModel(models: RegisteredModel[], name: string | null): RegisteredModel | undefined {
  return models.find((m) => m.name === name) ?? models.find((m) => m.aliases.champion) ?? models[0];
}
