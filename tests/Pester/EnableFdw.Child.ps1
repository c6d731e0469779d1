<#
    Sets up a Confiture session in a process of its own, as another operator or job would, and
    prints "ready <process id>". With -Hold it keeps the session (and so the process) alive until
    its standard input closes; without, it ends without cleaning up, as a crashed run does.
#>
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $Source,
    [Parameter(Mandatory)][string] $Target,
    [string] $SourceHostForTarget,
    [int] $SourcePortForTarget,
    [switch] $Hold
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$peer = @{}
if ($SourceHostForTarget) { $peer.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $peer.SourcePortForTarget = $SourcePortForTarget }
$null = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $Source) -Target (Connect-ConfitureDatabase $Target) @peer -Confirm:$false
"ready $PID"
if ($Hold) { $null = [Console]::In.ReadLine() }
