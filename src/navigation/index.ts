/**
 * ARWay navigation core: WGS84 geodesy, heading arithmetic, WMM2025 declination and the
 * per-session navigation state machine. Pure: imports only geographiclib-geodesic and geomagnetism.
 */
export { normalizeDeg360, relativeAngleDeg, smoothAngleDeg } from './angles.js';
export { geodesicDestination, geodesicDistanceM, solveInverse, type GeoPoint, type GeodesicSolution } from './geodesy.js';
export {
  WMM2025_VALIDITY,
  decimalYearUtc,
  magneticDeclinationDeg,
  magneticToTrueHeadingDeg,
  type DeclinationQuery,
} from './magnetic.js';
export { DEFAULT_NAVIGATION_CONFIG, resolveNavigationConfig, type NavigationConfig } from './config.js';
export { INITIAL_ARRIVAL, arrivalAccuracyGateM, stepArrival, type ArrivalFix, type ArrivalState } from './arrival.js';
export { MotionWindow, isImplausibleJump, type MotionEstimate, type MotionSample } from './motion.js';
export {
  NavigationState,
  type Destination,
  type Fix,
  type HeadingSample,
  type NavigationUpdate,
} from './state.js';
