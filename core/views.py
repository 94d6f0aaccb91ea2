"""Health check, job progress and the account pages."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core import selectors, services
from core.models import Job


@login_not_required
@never_cache
def healthz(request):
    """Answer 200 "ok" or 503 "fail" (database or broker down); staff also get the details."""
    body = {
        "database": selectors.database_status(),
        "broker": selectors.broker_status(),
        "worker": selectors.worker_status(),
    }
    ok = body["database"]["ok"] and body["broker"]["ok"]
    status = 200 if ok else 503
    body["status"] = "ok" if ok else "fail"
    if not request.user.is_staff:  # anonymous callers (load balancers) learn nothing more
        return HttpResponse(body["status"], status=status, content_type="text/plain")
    return JsonResponse(body, status=status)


def job_detail(request, pk: int):
    """Show one job's progress; htmx polls the progress fragment until it finishes."""
    jobs = Job.objects.all()
    if not request.user.is_superuser:
        jobs = jobs.filter(created_by=request.user)
    job = get_object_or_404(jobs, pk=pk)
    template = "core/_job_progress.html" if request.htmx else "core/job_detail.html"
    return render(request, template, {"job": job})


def job_list(request):
    """List recent jobs of the user (all jobs for superusers)."""
    return render(request, "core/job_list.html", {"jobs": selectors.jobs_recent(user=request.user)})


@require_POST
def job_selftest(request):
    """Queue a worker self-test job and show its progress."""
    job = services.job_enqueue(kind="core.selftest", payload={"steps": 5}, user=request.user)
    return redirect("job-detail", pk=job.pk)
