using System.CommandLine;
using Netmem.Cli;

var root = new RootCommand("netmem: a user-space network stack for .NET on the Linux netmem memory model");
root.Subcommands.Add(DemoCommand.Create());
return root.Parse(args).Invoke();
