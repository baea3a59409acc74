/**
 * The destination the baseline server (bench/baseline-server.ts) answers for every `destinationId`
 * (the first seeded one); bench/run.ts gives it to the load generators. No imports: the baseline's
 * heap is measured.
 */
export const BASELINE_DESTINATION = {
  id: '00000000-0000-4000-8000-000000000001',
  name: '테스트 목적지 1',
  lat: 37.511,
  lon: 127.029,
  arrivalRadius: 15,
} as const;
