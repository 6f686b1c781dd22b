// count.js FILE: reads a JUnit file with test-results-parser (a real JUnit
// consumer, as CI dashboards use it) and prints what it counted as JSON:
// the sums of its per-suite counts (junit-10.xsd allows no skipped count on
// <testsuites>, so the document-level totals cannot hold skips), the status
// it gave each case, and the cases it read as warned (inline property
// meshdoctor.status=warn). Used by cmd/meshdoctor's TestJUnitConsumerCounts.
const { parse } = require('test-results-parser');

const result = parse({ type: 'junit', files: [process.argv[2]] });
const out = { total: 0, passed: 0, failed: 0, errors: 0, skipped: 0, cases: {}, warned: [] };
for (const suite of result.suites) {
  out.total += suite.total;
  out.passed += suite.passed;
  out.failed += suite.failed;
  out.errors += suite.errors;
  out.skipped += suite.skipped;
  for (const c of suite.cases) {
    out.cases[c.name] = c.status;
    if (c.metadata && c.metadata['meshdoctor.status'] === 'warn') out.warned.push(c.name);
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
