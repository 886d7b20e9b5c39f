/** How often the audit page asks for the records again (ms); the page and its tests share it. */
export const AUDIT_PAGE_REFRESH_MS = 2000;
