/** The tool's name and version, from package.json, for reports. */
import pkg from '../../package.json';

export const TOOL_NAME = 'backdoor-scanner';
export const TOOL_VERSION: string = pkg.version;
