using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Remembers the last session <c>Enable-ConfitureFdw</c> made in each runspace, so that an
/// interactive user may leave <c>-Migration</c> out. Runspaces do not share it.
/// </summary>
internal static class SessionRegistry
{
    private static readonly ConditionalWeakTable<Runspace, ConfitureMigration> LastByRunspace = [];

    public static void Remember(ConfitureMigration migration)
    {
        if (Runspace.DefaultRunspace is { } runspace)
        {
            LastByRunspace.AddOrUpdate(runspace, migration);
        }
    }

    public static ConfitureMigration? Last() =>
        Runspace.DefaultRunspace is { } runspace && LastByRunspace.TryGetValue(runspace, out var migration) ? migration : null;

    public static void Forget(ConfitureMigration migration)
    {
        if (Runspace.DefaultRunspace is { } runspace && LastByRunspace.TryGetValue(runspace, out var last) && ReferenceEquals(last, migration))
        {
            LastByRunspace.Remove(runspace);
        }
    }
}
