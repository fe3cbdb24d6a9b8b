using System.CommandLine;
using Netmem.Cli;

var root = new RootCommand("netmem: a user-space network stack for .NET on the Linux netmem memory model");
root.Subcommands.Add(DemoCommand.Create());
foreach (var c in PagePoolCommands.Create()) root.Subcommands.Add(c);
root.Subcommands.Add(DevCommands.Create());
root.Subcommands.Add(TapCommands.Create());
root.Subcommands.Add(PerfCommands.Create());
root.Subcommands.Add(NcdevmemCommand.Create());
return root.Parse(args).Invoke();
