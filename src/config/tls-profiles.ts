/**
 * The TLS profiles' names and lowest protocols, apart from the schema: the rules need them at
 * validation time, and importing the schema module would load TypeBox into `lbimage validate`.
 */
export const TLS_PROFILES = ['intermediate', 'modern'] as const;
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
/** The lowest protocol of each profile (the rest of the profile is HAProxy's business: src/daemons/haproxy.ts). */
export const TLS_PROFILE_MIN: Record<(typeof TLS_PROFILES)[number], (typeof TLS_VERSIONS)[number]> = { intermediate: 'TLSv1.2', modern: 'TLSv1.3' };
