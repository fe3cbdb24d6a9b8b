using BenchmarkDotNet.Running;

// dotnet run --project bench/Netmem.Bench -c Release -- --filter '*PagePool*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
