using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Record;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Lists the migration sessions recorded on a target and, given their source, continues them in this process.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "ConfitureMigration", DefaultParameterSetName = ListSet)]
[OutputType(typeof(ConfitureMigrationRecord), ParameterSetName = [ListSet])]
[OutputType(typeof(ConfitureMigration), ParameterSetName = [ContinueSet])]
public sealed class GetConfitureMigrationCommand : ConfitureCmdlet
{
    private const string ListSet = "List";
    private const string ContinueSet = "Continue";

    /// <summary>The target database whose record is read.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public ConfitureConnection Target { get; set; } = null!;

    /// <summary>The source: given, the sessions that read it come back as sessions the other cmdlets take.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ContinueSet)]
    [ValidateNotNull]
    public ConfitureConnection Source { get; set; } = null!;

    /// <summary>The foreign server names of the sessions (wildcards allowed); left out, every session recorded.</summary>
    [Parameter(Position = 1)]
    [Alias("ServerName")]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>The source's host as the target server sees it, when it differs (as given to Enable-ConfitureFdw).</summary>
    [Parameter(ParameterSetName = ContinueSet)]
    [ValidateNotNullOrEmpty]
    public string? SourceHostForTarget { get; set; }

    /// <summary>The source's port as the target server sees it, when it differs.</summary>
    [Parameter(ParameterSetName = ContinueSet)]
    [ValidateRange(1, 65535)]
    public int? SourcePortForTarget { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord() => Guard(() =>
    {
        var recorded = Run((_, token) => RecordedSessions.ListAsync(Target.Endpoint, token));
        var chosen = Choose(recorded);
        if (ParameterSetName == ListSet)
        {
            foreach (var session in chosen)
            {
                WriteObject(new ConfitureMigrationRecord(session, Target));
            }

            return;
        }

        var named = Name is { Length: > 0 } && Name.All(n => !WildcardPattern.ContainsWildcardCharacters(n));
        var continued = 0;
        foreach (var session in chosen)
        {
            var address = $"{SourceHostForTarget ?? Source.Host}:{SourcePortForTarget ?? Source.Port}/{Source.Database}";
            if (!named && address != session.SourceAddress)
            {
                // Not asked for by name: a session of another source is simply not this source's.
                WriteVerbose($"Session \"{session.ServerName}\" reads {session.SourceAddress}, not {address}: left out.");
                continue;
            }

            Guard(() =>
            {
                var migrator = Run((_, token) => RecordedSessions.ContinueAsync(session, Source.Endpoint, Target.Endpoint, SourceHostForTarget, SourcePortForTarget, token));
                if (session.Live)
                {
                    WriteWarning($"Session \"{session.ServerName}\" is still live in the process that set it up ({session.SessionClient}); Remove-ConfitureFdw is that session's to run while it lives.");
                }

                var migration = new ConfitureMigration(Source, Target, migrator, session.Tables);
                SessionRegistry.Remember(migration);
                WriteObject(migration);
                continued++;
            }, target: session.ServerName, terminating: false);
        }

        if (continued == 0 && chosen.Count > 0 && !named)
        {
            throw new ConfitureException(ConfitureErrorKind.SourceMismatch,
                $"No recorded session reads the -Source given ({Source.Host}:{Source.Port}/{Source.Database}); the sessions recorded read: {string.Join(", ", chosen.Select(s => $"{s.ServerName} -> {s.SourceAddress}"))}.",
                Source.ToString(), "Pass the source a session reads, or -SourceHostForTarget/-SourcePortForTarget when the target reaches it under another address.");
        }
    }, target: Target, terminating: true);

    /// <summary>The sessions the names select; a plain name that matches none is an error naming those recorded.</summary>
    private List<RecordedSession> Choose(IReadOnlyList<RecordedSession> recorded)
    {
        if (Name is not { Length: > 0 })
        {
            if (recorded.Count == 0 && ParameterSetName == ContinueSet)
            {
                throw new ConfitureException(ConfitureErrorKind.SessionNotFound, $"No Confiture session is recorded on {Target}.", Target.ToString(),
                    "Run Enable-ConfitureFdw to set one up.");
            }

            return [.. recorded];
        }

        var chosen = new List<RecordedSession>();
        foreach (var name in Name)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.CultureInvariant);
            var matches = recorded.Where(s => WildcardPattern.ContainsWildcardCharacters(name) ? pattern.IsMatch(s.ServerName) : s.ServerName == name).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                WriteError(ErrorRecords.From(new ConfitureException(ConfitureErrorKind.SessionNotFound,
                    $"No session with the server name \"{name}\" is recorded on {Target}.", name,
                    recorded.Count == 0 ? "Run Enable-ConfitureFdw to set one up." : $"The sessions recorded: {string.Join(", ", recorded.Select(s => s.ServerName))}."), name));
            }

            chosen.AddRange(matches.Where(m => !chosen.Contains(m)));
        }

        return chosen;
    }
}
