// CppUTest runner for every host suite. CppUTest's memory-leak detector checks each test;
// the binaries are also built with AddressSanitizer and UndefinedBehaviorSanitizer.
#include <CppUTest/CommandLineTestRunner.h>

int main(int argc, char** argv) { return CommandLineTestRunner::RunAllTests(argc, argv); }
