#!/bin/sh
# Run the array API standard's own test suite (data-apis/array-api-tests, with
# data-apis/array-api checked out as its array-api/ folder) against hal on one device,
# with hal's list of known failures. Hypothesis's per-example deadline is off: the first
# use of a kernel in a process compiles it (0.1-0.5 s on PoCL, more on a loaded machine),
# which Hypothesis would report as a flaky timing, not as a wrong result.
#
#   sh tools/array-api-tests.sh PATH/TO/array-api-tests [DEVICE] [pytest arguments...]
#   sh tools/array-api-tests.sh ../array-api-tests opencl:0 --max-examples 100
set -eu
suite=$(cd "$1" && pwd)
device=${2:-cpu}
shift $(( $# < 2 ? $# : 2 ))
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$suite"
ARRAY_API_TESTS_MODULE=hal HAL_DEVICE=$device exec python -m pytest array_api_tests \
    -o addopts="" -p no:cacheprovider --hypothesis-disable-deadline --xfails-file "$here/tests/array-api-xfails.txt" "$@"
