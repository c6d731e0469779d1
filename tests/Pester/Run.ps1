<#
.SYNOPSIS
    Runs the Pester suite in its own process and writes the counts for build.ps1.
#>
param(
    [Parameter(Mandatory)][string] $PesterModule,
    [Parameter(Mandatory)][string] $SummaryPath,
    [string[]] $Path = @($PSScriptRoot),
    # Several paths in one argument (pwsh -File passes each argument as one string).
    [string] $PathList
)

if ($PathList) { $Path = $PathList -split [IO.Path]::PathSeparator }

Import-Module $PesterModule -Force
if ($env:CI) { $PSStyle.OutputRendering = 'PlainText' }
$configuration = New-PesterConfiguration
$configuration.Run.Path = $Path
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
$configuration.Should.ErrorAction = 'Stop'
$result = Invoke-Pester -Configuration $configuration

[ordered]@{
    passed  = $result.PassedCount
    failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    skipped = $result.SkippedCount + $result.NotRunCount
} | ConvertTo-Json | Set-Content -Path $SummaryPath
exit ([int]($result.Result -ne 'Passed'))
