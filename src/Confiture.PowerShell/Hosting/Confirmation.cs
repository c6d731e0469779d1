using System.Management.Automation;
using System.Management.Automation.Host;
using System.Reflection;
using Confiture.Core;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Every confirmation a cmdlet asks for goes through here, so that -Force means no prompt on every
/// cmdlet and a prompt that a host cannot show is one clear error (Confiture.ConfirmationRequired)
/// naming the switch that removes it, before anything is changed. PowerShell's own answer in such a
/// host depends on the host: the console host with -NonInteractive throws an InvalidOperation
/// ("NonInteractive mode"), with an input at its end (stdin from /dev/null) it fails on the missing
/// line, and the host of a bare runspace throws a HostException. None of those says what to do.
/// </summary>
internal static class Confirmation
{
    /// <summary>
    /// ShouldProcess, unless it would prompt and <paramref name="force"/> says not to (an explicit
    /// -Confirm still asks); -WhatIf is always honoured.
    /// </summary>
    public static bool ShouldProcess(PSCmdlet cmdlet, string description, string warning, string caption, bool force, string remedy, object? target)
    {
        if (!WouldPrompt(cmdlet, out var confirmAsked))
        {
            return cmdlet.ShouldProcess(description, warning, caption);
        }

        if (force && !confirmAsked)
        {
            cmdlet.WriteVerbose(description);
            return true;
        }

        return Ask(cmdlet, warning, remedy, target, () => cmdlet.ShouldProcess(description, warning, caption));
    }

    /// <summary>ShouldContinue, or the ConfirmationRequired error when the host cannot ask.</summary>
    public static bool ShouldContinue(PSCmdlet cmdlet, string query, string caption, string remedy, object? target) =>
        Ask(cmdlet, query, remedy, target, () => cmdlet.ShouldContinue(query, caption));

    /// <summary>Why this host cannot ask the user, or null when it can.</summary>
    public static string? WhyHostCannotPrompt(PSHost host)
    {
        if (host.UI is null || host.Name == "Default Host")
        {
            // The host of a runspace made by [powershell]::Create() or an SDK application (as
            // automation services run scripts) has no one to ask.
            return $"the host \"{host.Name}\" has no user to ask";
        }

        if (host.Name == "ConsoleHost")
        {
            if (HasNonInteractiveFlag(Environment.GetCommandLineArgs()))
            {
                return "PowerShell runs with -NonInteractive";
            }

            if (Console.IsInputRedirected)
            {
                // An answer read from redirected input would be a guess at what the script's caller
                // meant; from /dev/null there is none, and a pipe may never end.
                return "PowerShell's input is redirected, not a terminal";
            }
        }

        return Environment.UserInteractive ? null : "the process runs without a user session";
    }

    /// <summary>
    /// pwsh's own rule for its switches: a case-insensitive prefix of "NonInteractive" at least as
    /// long as "noni", after "-", "--" or "/", before -File/-Command (what follows belongs to the script).
    /// </summary>
    internal static bool HasNonInteractiveFlag(IReadOnlyList<string> arguments)
    {
        for (var i = 1; i < arguments.Count; i++)
        {
            var name = arguments[i].TrimStart('-', '/').ToLowerInvariant();
            if (arguments[i].Length == name.Length)
            {
                return false; // a script path or command text: the switches are over
            }

            if (name.Length >= 4 && "noninteractive".StartsWith(name, StringComparison.Ordinal) && name.StartsWith("noni", StringComparison.Ordinal))
            {
                return true;
            }

            if (name is "f" or "c" or "e" or "ec" || (name.Length >= 2 && ("file".StartsWith(name, StringComparison.Ordinal)
                || "command".StartsWith(name, StringComparison.Ordinal) || "encodedcommand".StartsWith(name, StringComparison.Ordinal))))
            {
                return false;
            }
        }

        return false;
    }

    private static bool Ask(PSCmdlet cmdlet, string question, string remedy, object? target, Func<bool> prompt)
    {
        if (WhyHostCannotPrompt(cmdlet.Host) is { } why)
        {
            cmdlet.ThrowTerminatingError(Required(cmdlet, question, why, remedy, target, null));
        }

        try
        {
            return prompt();
        }
        catch (Exception ex) when (ex is not PipelineStoppedException and not OperationCanceledException)
        {
            // The host offered to ask and then could not (its input ended, or it refuses prompts).
            cmdlet.ThrowTerminatingError(Required(cmdlet, question, "the host could not read an answer", remedy, target, ex));
            throw;
        }
    }

    /// <summary>Whether ShouldProcess would ask: -Confirm given, or $ConfirmPreference at or below the cmdlet's impact, and no -WhatIf.</summary>
    private static bool WouldPrompt(PSCmdlet cmdlet, out bool confirmAsked)
    {
        var bound = cmdlet.MyInvocation.BoundParameters;
        confirmAsked = false;
        var whatIf = bound.TryGetValue("WhatIf", out var w) ? LanguagePrimitives.IsTrue(w) : LanguagePrimitives.IsTrue(cmdlet.GetVariableValue("WhatIfPreference"));
        if (whatIf)
        {
            return false;
        }

        if (bound.TryGetValue("Confirm", out var c))
        {
            confirmAsked = LanguagePrimitives.IsTrue(c);
            return confirmAsked;
        }

        var impact = cmdlet.GetType().GetCustomAttribute<CmdletAttribute>()?.ConfirmImpact ?? ConfirmImpact.Medium;
        var preference = cmdlet.GetVariableValue("ConfirmPreference") switch
        {
            ConfirmImpact value => value,
            PSObject { BaseObject: ConfirmImpact value } => value,
            string text when Enum.TryParse<ConfirmImpact>(text, true, out var parsed) => parsed,
            _ => ConfirmImpact.High,
        };
        return preference != ConfirmImpact.None && impact >= preference;
    }

    private static ErrorRecord Required(PSCmdlet cmdlet, string question, string why, string remedy, object? target, Exception? inner) =>
        ErrorRecords.From(new ConfitureException(ConfitureErrorKind.ConfirmationRequired,
            $"{cmdlet.MyInvocation.MyCommand.Name} needs a confirmation and cannot ask for it: {why}. The question was: {question} Nothing was changed.",
            target?.ToString(), remedy, inner), target ?? cmdlet.MyInvocation.MyCommand.Name);
}
