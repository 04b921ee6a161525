// Process warnings are defects in this codebase: fail the test that caused them.
process.on('warning', (warning) => {
  throw warning;
});
