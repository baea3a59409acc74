export * from './User.js';
export * from './Destination.js';
export * from './NavigationSession.js';
export * from './NavigationPoint.js';
export * from './Feedback.js';
export * from './AnalyticsEvent.js';

import { AnalyticsEvent } from './AnalyticsEvent.js';
import { Destination } from './Destination.js';
import { Feedback } from './Feedback.js';
import { NavigationPoint } from './NavigationPoint.js';
import { NavigationSession } from './NavigationSession.js';
import { User } from './User.js';

/** Every entity of the data model, for the ORM configuration. */
export const entities = [User, Destination, NavigationSession, NavigationPoint, Feedback, AnalyticsEvent];
