/* report.h - `taskfarm report RESULTS.h5 -o report.html|report.svg`: where the time went,
 * as one self-contained file (no scripts, fonts or images from anywhere): a timeline with a
 * lane per worker and a bar per task coloured by outcome, a histogram of task durations, and
 * the share of workers busy over time.
 */
#ifndef TF_REPORT_H
#define TF_REPORT_H

/* Writes output (refusing an existing file); its extension chooses HTML or bare SVG.
 * Returns an exit code: 0, 2 (bad input, nothing written), 3 (write failed, nothing left). */
int tf_report_run(const char *path, const char *output);

#endif
